// SPDX-License-Identifier: MIT
//
// Stand-in Metabase for the mbupgraded integration tests. It behaves like Metabase
// where the upgrader can see it, each behaviour as Metabase's source shows it (the file and
// function are named where it is done; docs/metabase.md has the commits): version.properties,
// init!*'s progress steps on /api/health, the /api/ answers while initializing, the HTTPS
// redirect, a Liquibase-style DATABASECHANGELOG committed per change set with its lock in an
// H2, PostgreSQL or MySQL/MariaDB application database, Metabase's log lines and failure
// texts, the shutdown hook, and knobs for failing releases. JDK (com.sun.net.httpserver) and
// the H2, PostgreSQL and MariaDB JDBC drivers only. See ../README.md.
//
// The SQL uses unquoted identifiers only, so each database folds them its own way, as
// Liquibase's tables come out under Metabase: DATABASECHANGELOG on H2, databasechangelog
// on PostgreSQL. MySQL keeps names as written: Liquibase's own tables are upper case there
// (DATABASECHANGELOG), Metabase's lower case (report_card), so data() lower-cases those.
package metabase;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class core {
    static final String CHANGELOG_FILE = "migrations/001_update_migrations.yaml";
    static final String AUTHOR = "standin";

    static Properties version = new Properties();
    static Properties knobs = new Properties();
    static String tag, fail, migrationWork;
    static long startupMs, migrationMs, crashAfterMs;
    static List<String> known = new ArrayList<>(); // this release's migrations, in order

    static volatile HttpServer server;
    static final Object dbLock = new Object(); // guards conn; held for each DB step
    static Connection conn;
    static String dbType; // "h2", "postgres" or "mysql"
    static volatile boolean ready;
    static volatile boolean stopRequested; // the shutdown hook runs (migrations may go on for a while)
    static volatile boolean shuttingDown; // stop everything now
    static volatile boolean lockHeldByUs; // this process holds the migration lock
    static volatile double progress;
    static volatile int exitCode = 0; // what the shutdown hook exits with (0 on SIGTERM)
    static volatile Statement running; // the statement of a "server" migration, cancelled on SIGTERM
    static volatile double sink; // keeps the "cpu" migration work from being optimised away
    static boolean inCommand; // a `migrate` command (cmd/core.clj run-cmd), not the server

    // ---- logging and exiting ----------------------------------------------------------

    /** A line as Metabase's log4j2.xml writes it: "%date %level %logger{2} :: %message". */
    static synchronized void logAs(String logger, String level, String msg) {
        String ts = new SimpleDateFormat("yyyy-MM-dd HH:mm:ss,SSS").format(new Date());
        System.out.println(ts + " " + level + " " + logger + " :: " + msg);
    }

    static void log(String level, String msg) {
        logAs("metabase.core", level, msg);
    }

    /** Exit with code through the shutdown hook (which closes the server and the DB). */
    static void die(int code) {
        if (stopRequested) { // already stopping (SIGTERM): keep its exit code, just wait
            try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
        }
        exitCode = code;
        System.exit(code);
    }

    static void fatal(String msg) {
        log("ERROR", msg);
        die(1);
    }

    static void sleep(long ms) {
        if (ms <= 0) return;
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    // ---- configuration ----------------------------------------------------------------

    static Properties resource(String name) throws Exception {
        Properties p = new Properties();
        try (InputStream in = core.class.getResourceAsStream(name)) {
            if (in != null) p.load(in);
        }
        return p;
    }

    /** Environment variable for this release only (ENV_v0_56_2), else for every release, else
     *  standin.properties, else the default. */
    static String knob(String env, String key, String dflt) {
        String v = System.getenv(env + "_" + tag.replaceAll("[^A-Za-z0-9]", "_"));
        if (v == null || v.isEmpty()) v = System.getenv(env);
        if (v != null && !v.isEmpty()) return v;
        return knobs.getProperty(key, dflt).trim();
    }

    static long knobMs(String env, String key, long dflt) {
        String v = knob(env, key, Long.toString(dflt));
        try {
            long n = Long.parseLong(v);
            if (n >= 0) return n;
        } catch (NumberFormatException e) { }
        fatal("Invalid value for " + key + ": " + v);
        return 0;
    }

    /**
     * The change sets the JAR carries, as Liquibase finds them: liquibase.yaml's includeAll path
     * (every entry under it, sorted by name), each file's "- changeSet:" ids in order.
     */
    static void readChangelog() {
        try {
            java.io.File self = new java.io.File(core.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            try (java.util.jar.JarFile jar = new java.util.jar.JarFile(self)) {
                java.util.zip.ZipEntry master = jar.getEntry("liquibase.yaml");
                if (master == null) fatal("liquibase.yaml not found in " + self);
                Matcher m = Pattern.compile("(?m)^\\s*path:\\s*\"?([^\"\\s]+)\"?\\s*$")
                        .matcher(new String(jar.getInputStream(master).readAllBytes(), StandardCharsets.UTF_8));
                if (!m.find()) fatal("liquibase.yaml has no includeAll path");
                List<String> files = new ArrayList<>();
                for (java.util.Enumeration<java.util.jar.JarEntry> e = jar.entries(); e.hasMoreElements();) {
                    String name = e.nextElement().getName();
                    if (name.startsWith(m.group(1)) && !name.endsWith("/")) files.add(name);
                }
                java.util.Collections.sort(files);
                for (String f : files) {
                    boolean inSet = false;
                    String yaml = new String(jar.getInputStream(jar.getEntry(f)).readAllBytes(), StandardCharsets.UTF_8);
                    for (String line : yaml.split("\n")) {
                        String t = line.trim();
                        if (t.equals("- changeSet:")) inSet = true;
                        else if (inSet && t.startsWith("id:")) {
                            known.add(t.substring(3).trim());
                            inSet = false;
                        }
                    }
                }
            }
        } catch (Exception e) {
            fatal("Cannot read the changelog: " + e);
        }
    }

    // ---- HTTP -------------------------------------------------------------------------

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : (s == null ? "" : s).toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void reply(HttpExchange ex, int status, String body) throws java.io.IOException {
        reply(ex, status, "application/json; charset=utf-8", body);
    }

    static void reply(HttpExchange ex, int status, String type, String body) throws java.io.IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head || bytes.length == 0 ? -1 : bytes.length);
        if (!head && bytes.length > 0)
            try (OutputStream out = ex.getResponseBody()) { out.write(bytes); }
    }

    /** The progress as Metabase's JSON has it: the integer 0 at first, then doubles (0.1, 0.85). */
    static String initializing() {
        double p = progress;
        return "{\"status\":\"initializing\",\"progress\":" + (p == 0 ? "0" : Double.toString(p)) + "}";
    }

    /** health-handler of src/metabase/server/routes.clj: /api/health and /readyz. */
    static void health(HttpExchange ex) throws java.io.IOException {
        if (ready) reply(ex, 200, "{\"status\":\"ok\"}");
        else reply(ex, 503, initializing());
    }

    // ---- "Redirect all requests to HTTPS" (src/metabase/server/middleware/ssl.clj) ------

    /** no-redirect-https-uris */
    static final Set<String> NO_REDIRECT_HTTPS_URIS = Set.of("/api/health", "/livez", "/readyz");

    static String header(HttpExchange ex, String name) {
        return ex.getRequestHeaders().getFirst(name);
    }

    /**
     * request/https? (src/metabase/request/util.clj): X-Forwarded-Proto, X-Forwarded-Protocol or
     * X-Url-Scheme (the first present) is "https"; else X-Forwarded-Ssl or Front-End-Https is
     * "on"; else Origin starts with "https"; else the request's own scheme (plain HTTP here).
     */
    static boolean httpsRequest(HttpExchange ex) {
        String proto = firstNonNull(header(ex, "X-Forwarded-Proto"), header(ex, "X-Forwarded-Protocol"),
                header(ex, "X-Url-Scheme"));
        if (proto != null) return proto.toLowerCase(Locale.ROOT).equals("https");
        String ssl = firstNonNull(header(ex, "X-Forwarded-Ssl"), header(ex, "Front-End-Https"));
        if (ssl != null) return ssl.toLowerCase(Locale.ROOT).equals("on");
        String origin = header(ex, "Origin");
        if (origin != null) return origin.toLowerCase(Locale.ROOT).startsWith("https");
        return false;
    }

    static String firstNonNull(String... v) {
        for (String s : v) if (s != null) return s;
        return null;
    }

    /**
     * redirect-to-https-middleware: with an https: site URL (MB_SITE_URL) and
     * MB_REDIRECT_ALL_REQUESTS_TO_HTTPS=true, any request but the no-redirect URIs that is not
     * https? gets a redirect to https://<site URL's host>[:<its port>]<path>[?<query>]: 301 for
     * GET and HEAD, 307 for anything else. True if it answered.
     */
    static boolean redirectToHttps(HttpExchange ex, String path) throws java.io.IOException {
        String site = env("MB_SITE_URL");
        if (site == null || site.isBlank() || !site.startsWith("https:")) return false;
        if (NO_REDIRECT_HTTPS_URIS.contains(path)) return false;
        String on = env("MB_REDIRECT_ALL_REQUESTS_TO_HTTPS");
        if (on == null || !on.trim().equalsIgnoreCase("true") || httpsRequest(ex)) return false;
        java.net.URL siteUrl = new java.net.URL(site);
        String q = ex.getRequestURI().getRawQuery();
        String file = ex.getRequestURI().getRawPath() + (q == null ? "" : "?" + q);
        String m = ex.getRequestMethod();
        ex.getResponseHeaders().set("Location", new java.net.URL("https", siteUrl.getHost(), siteUrl.getPort(), file).toString());
        reply(ex, m.equals("GET") || m.equals("HEAD") ? 301 : 307, "text/plain", "");
        return true;
    }

    static void handle(HttpExchange ex) throws java.io.IOException {
        try {
            String path = ex.getRequestURI().getPath();
            String m = ex.getRequestMethod();
            boolean get = m.equals("GET") || m.equals("HEAD"); // Compojure's GET matches HEAD too
            if (redirectToHttps(ex, path)) return;
            if (get && (path.equals("/api/health") || path.equals("/readyz"))) {
                health(ex);
            } else if (get && path.equals("/livez")) {
                reply(ex, 200, "{\"status\":\"ok\"}"); // livez-handler: no checks at all
            } else if (path.startsWith("/api/") && !ready) {
                // api-handler: every other /api/ route while initializing
                reply(ex, 503, "text/plain", "Metabase is still initializing. Please sit tight...");
            } else if (get && path.startsWith("/api/") && isReadyPath(path)) {
                if (path.equals("/api/session/properties")) {
                    reply(ex, 200, "{\"version\":{\"tag\":" + json(tag)
                            + ",\"hash\":" + json(version.getProperty("hash"))
                            + (version.getProperty("branch") == null ? ""
                                    : ",\"branch\":" + json(version.getProperty("branch")))
                            + ",\"date\":" + json(version.getProperty("date")) + "}"
                            + ",\"site-name\":\"Metabase stand-in\",\"has-user-setup\":true}");
                } else if (path.equals("/api/standin/changelog")) {
                    StringBuilder b = new StringBuilder("[");
                    for (String id : changelog()) b.append(b.length() > 1 ? "," : "").append(json(id));
                    reply(ex, 200, b.append("]").toString());
                } else {
                    reply(ex, 200, "{\"count\":" + cardCount() + "}");
                }
            } else {
                reply(ex, 404, "text/plain", "API endpoint does not exist.");
            }
        } catch (SQLException e) {
            reply(ex, 500, "{\"message\":" + json(e.getMessage()) + "}");
        } finally {
            ex.close();
        }
    }

    static boolean isReadyPath(String p) {
        return p.equals("/api/session/properties") || p.equals("/api/standin/changelog")
                || p.equals("/api/standin/cards");
    }

    static void startServer() {
        String host = System.getenv().getOrDefault("MB_JETTY_HOST", "127.0.0.1");
        String portStr = System.getenv().getOrDefault("MB_JETTY_PORT", "3000");
        try {
            int port = Integer.parseInt(portStr);
            HttpServer s = HttpServer.create(new InetSocketAddress(host, port), 50);
            s.createContext("/", core::handle);
            s.setExecutor(Executors.newFixedThreadPool(4, r -> {
                Thread t = new Thread(r, "http");
                t.setDaemon(true);
                return t;
            }));
            s.start();
            server = s;
            log("INFO", "Launching Embedded Jetty Webserver with config: {:port " + port
                    + ", :host \"" + host + "\"}");
        } catch (Exception e) {
            fatal("Failed to start web server on " + host + ":" + portStr + ": " + e);
        }
    }

    // ---- application database ---------------------------------------------------------

    static String dbPath() {
        String f = System.getenv().getOrDefault("MB_DB_FILE", "metabase.db");
        if (f.endsWith(".mv.db")) f = f.substring(0, f.length() - ".mv.db".length());
        return Paths.get(f).toAbsolutePath().normalize().toString();
    }

    static String env(String name) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? null : v;
    }

    static String urlDecode(String s) {
        try {
            return URLDecoder.decode(s, "UTF-8");
        } catch (UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * MB_DB_TYPE, else the kind of MB_DB_CONNECTION_URI, else h2 (as Metabase decides).
     */
    static String configuredDbType() {
        String t = env("MB_DB_TYPE");
        if (t != null) return t;
        String uri = env("MB_DB_CONNECTION_URI");
        if (uri != null && uri.matches("^(jdbc:)?postgres(ql)?:.*")) return "postgres";
        if (uri != null && uri.matches("^(jdbc:)?(mysql|mariadb):.*")) return "mysql";
        return "h2";
    }

    /**
     * The PostgreSQL JDBC URL and the connection properties, from the environment as
     * Metabase reads it: MB_DB_CONNECTION_URI (postgres://..., postgresql://... or
     * jdbc:postgresql://..., credentials as ?user=&password= or as user:pass@ before the
     * host), with MB_DB_USER / MB_DB_PASS winning if set; or MB_DB_HOST (localhost),
     * MB_DB_PORT (5432), MB_DB_DBNAME (metabase), MB_DB_USER, MB_DB_PASS. The properties
     * hold the password; the URL returned never does when it came from user info.
     */
    static String postgresUrl(Properties props) {
        String uri = env("MB_DB_CONNECTION_URI"), url;
        if (uri != null) {
            url = uri.startsWith("jdbc:") ? uri.substring(5) : uri;
            if (url.startsWith("postgres:")) url = "postgresql:" + url.substring("postgres:".length());
            if (!url.startsWith("postgresql:")) fatal("MB_DB_CONNECTION_URI is not a PostgreSQL URI");
            Matcher m = Pattern.compile("^postgresql://([^@/?]*)@(.*)$").matcher(url);
            if (m.matches()) { // user info: Heroku-style postgres://user:pass@host/db
                String info = m.group(1);
                int colon = info.indexOf(':');
                props.setProperty("user", urlDecode(colon < 0 ? info : info.substring(0, colon)));
                if (colon >= 0) props.setProperty("password", urlDecode(info.substring(colon + 1)));
                url = "postgresql://" + m.group(2);
            }
            url = "jdbc:" + url;
        } else {
            String host = env("MB_DB_HOST"), port = env("MB_DB_PORT"), name = env("MB_DB_DBNAME");
            if (host != null && host.contains(":") && !host.startsWith("[")) host = "[" + host + "]";
            url = "jdbc:postgresql://" + (host == null ? "localhost" : host) + ":" + (port == null ? "5432" : port)
                    + "/" + (name == null ? "metabase" : name);
        }
        if (env("MB_DB_USER") != null) props.setProperty("user", env("MB_DB_USER"));
        if (env("MB_DB_PASS") != null) props.setProperty("password", env("MB_DB_PASS"));
        props.setProperty("ApplicationName", "Metabase stand-in");
        return url;
    }

    /**
     * The MariaDB JDBC URL and the connection properties, from the environment as Metabase
     * reads it for MB_DB_TYPE=mysql: MB_DB_CONNECTION_URI (mysql://..., mariadb://...,
     * jdbc:mysql://... or jdbc:mariadb://..., credentials as ?user=&password= or as
     * user:pass@ before the host), MB_DB_USER / MB_DB_PASS winning if set; or MB_DB_HOST
     * (localhost), MB_DB_PORT (3306), MB_DB_DBNAME (metabase), MB_DB_USER, MB_DB_PASS.
     */
    static String mysqlUrl(Properties props) {
        String uri = env("MB_DB_CONNECTION_URI"), url;
        if (uri != null) {
            url = uri.startsWith("jdbc:") ? uri.substring(5) : uri;
            Matcher s = Pattern.compile("^(mysql|mariadb)://(.*)$").matcher(url);
            if (!s.matches()) fatal("MB_DB_CONNECTION_URI is not a MySQL URI");
            url = s.group(2);
            Matcher m = Pattern.compile("^([^@/?]*)@(.*)$").matcher(url);
            if (m.matches()) { // user info: mysql://user:pass@host/db
                String info = m.group(1);
                int colon = info.indexOf(':');
                props.setProperty("user", urlDecode(colon < 0 ? info : info.substring(0, colon)));
                if (colon >= 0) props.setProperty("password", urlDecode(info.substring(colon + 1)));
                url = m.group(2);
            }
            url = "jdbc:mariadb://" + url;
        } else {
            String host = env("MB_DB_HOST"), port = env("MB_DB_PORT"), name = env("MB_DB_DBNAME");
            if (host != null && host.contains(":") && !host.startsWith("[")) host = "[" + host + "]";
            url = "jdbc:mariadb://" + (host == null ? "localhost" : host) + ":" + (port == null ? "3306" : port)
                    + "/" + (name == null ? "metabase" : name);
        }
        if (env("MB_DB_USER") != null) props.setProperty("user", env("MB_DB_USER"));
        if (env("MB_DB_PASS") != null) props.setProperty("password", env("MB_DB_PASS"));
        return url;
    }

    /** url without a password=... query parameter, for the log. */
    static String redact(String url) {
        return url.replaceAll("(?i)([?&]password=)[^&]*", "$1<redacted>");
    }

    static Connection connect() throws SQLException {
        if (dbType.equals("postgres") || dbType.equals("mysql")) {
            Properties props = new Properties();
            String url = dbType.equals("postgres") ? postgresUrl(props) : mysqlUrl(props);
            if (!inCommand) logAs("app-db.setup", "INFO", "Verifying " + dbType + " Database Connection ...");
            log("INFO", "(stand-in) connecting to " + redact(url)
                    + (props.containsKey("user") ? " as " + props.getProperty("user") : ""));
            Connection c = null;
            try {
                c = DriverManager.getConnection(url, props);
            } catch (SQLException e) { // verify-db-connection wraps it; a command has none
                if (inCommand) throw e;
                initFailed("clojure.lang.ExceptionInfo: Unable to connect to Metabase " + dbType + " DB. {}\n"
                        + "Caused by: " + e);
            }
            return inCommand ? c : verifyVersion(c);
        }
        String path = dbPath();
        if (!inCommand) logAs("app-db.setup", "INFO", "Verifying h2 Database Connection ...");
        log("INFO", "(stand-in) using H2 database file " + path + ".mv.db");
        Connection c = DriverManager.getConnection("jdbc:h2:file:" + path + ";DB_CLOSE_ON_EXIT=FALSE", "", "");
        return inCommand ? c : verifyVersion(c); // the `migrate` command checks no version (no setup-db!)
    }

    static final String SUPPORTED_DB_VERSIONS = "/metabase/app_db/supported-db-versions.edn";
    static final String SUPPORTED_DB_DOCS = "https://www.metabase.com/docs/latest/installation-and-operation/"
            + "migrating-from-h2#supported-databases-for-storing-your-metabase-application-data";

    /**
     * setup.clj verify-db-connection: the server's version (major and minor from the driver,
     * the patch from the product version) against the JAR's supported-db-versions.edn, by
     * kind (h2, postgres, mysql; mariadb if the server says it is MariaDB).
     */
    static Connection verifyVersion(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        String product = md.getDatabaseProductVersion();
        String kind = md.getDatabaseProductName().equals("MariaDB") ? "mariadb" : dbType;
        Matcher pm = Pattern.compile("^(\\d+)(?:\\.(\\d+))?(?:\\.(\\d+))?").matcher(product);
        int patch = pm.find() && pm.group(3) != null ? Integer.parseInt(pm.group(3)) : 0;
        int[] have = {md.getDatabaseMajorVersion(), md.getDatabaseMinorVersion(), patch};
        int[] need = supportedDbVersion(kind);
        if (need == null || Arrays.compare(need, have) > 0) {
            try { c.close(); } catch (SQLException e) { }
            initFailed("clojure.lang.ExceptionInfo: Metabase " + kind + " DB version not supported (found "
                    + have[0] + "." + have[1] + "." + have[2] + " (" + product + "), required "
                    + (need == null ? "null.null.null" : need[0] + "." + need[1] + "." + need[2])
                    + "). Please upgrade your database to a supported version and try again.\n" + SUPPORTED_DB_DOCS
                    + " {}");
        }
        logAs("app-db.setup", "INFO", "Successfully verified " + md.getDatabaseProductName() + " " + product
                + " application database connection. ✅");
        return c;
    }

    /** {major, minor, patch} for kind from the JAR's supported-db-versions.edn, or null. */
    static int[] supportedDbVersion(String kind) {
        String edn;
        try (InputStream in = core.class.getResourceAsStream(SUPPORTED_DB_VERSIONS)) {
            if (in == null) {
                initFailed("clojure.lang.ExceptionInfo: Resource not found: metabase/app_db/supported-db-versions.edn"
                        + " {:path \"metabase/app_db/supported-db-versions.edn\"}");
                return null;
            }
            edn = new String(in.readAllBytes(), StandardCharsets.UTF_8).replaceAll(";[^\n]*", "");
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        Matcher m = Pattern.compile(":" + Pattern.quote(kind)
                + "\\s*\\{\\s*:major\\s+(\\d+)\\s*,?\\s*:minor\\s+(\\d+)\\s*,?\\s*:patch\\s+(\\d+)\\s*\\}").matcher(edn);
        if (!m.find()) return null;
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))};
    }

    /** Whether a table exists in the connection's current schema (names as the DB folds them). */
    static boolean tableExists(String name) throws SQLException {
        DatabaseMetaData md = conn.getMetaData();
        String folded = md.storesLowerCaseIdentifiers() ? name.toLowerCase(Locale.ROOT)
                : md.storesUpperCaseIdentifiers() ? name.toUpperCase(Locale.ROOT) : name;
        // MySQL has databases (catalogs), not schemas: look in the connection's own one only
        boolean my = dbType.equals("mysql");
        try (ResultSet rs = md.getTables(my ? conn.getCatalog() : null, my ? null : conn.getSchema(), folded,
                new String[] {"TABLE"})) {
            return rs.next();
        }
    }

    /** One of Metabase's own tables (not Liquibase's): lower case on MySQL, as Metabase has them. */
    static String data(String name) {
        return dbType.equals("mysql") ? name.toLowerCase(Locale.ROOT) : name;
    }

    static void exec(String sql) throws SQLException {
        try (Statement st = conn.createStatement()) { st.execute(sql); }
    }

    static List<String> changelog() throws SQLException {
        List<String> ids = new ArrayList<>();
        synchronized (dbLock) {
            if (conn == null) throw new SQLException("database closed");
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT ID FROM DATABASECHANGELOG ORDER BY ORDEREXECUTED")) {
                while (rs.next()) ids.add(rs.getString(1));
            }
        }
        return ids;
    }

    static long cardCount() throws SQLException {
        synchronized (dbLock) {
            if (conn == null) throw new SQLException("database closed");
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM " + data("REPORT_CARD"))) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** Opens the DB, creates the tables of a fresh one. False if we are shutting down. */
    static boolean openDb() throws SQLException {
        synchronized (dbLock) {
            if (shuttingDown) return false;
            conn = connect();
            boolean fresh = !tableExists("DATABASECHANGELOG");
            // Liquibase's column types on MySQL: DATETIME, and BIT(1) for a boolean
            boolean my = dbType.equals("mysql");
            String timestamp = my ? "DATETIME" : "TIMESTAMP", bool = my ? "BIT(1)" : "BOOLEAN";
            exec("CREATE TABLE IF NOT EXISTS DATABASECHANGELOG (ID VARCHAR(255) NOT NULL,"
                    + " AUTHOR VARCHAR(255) NOT NULL, FILENAME VARCHAR(255) NOT NULL,"
                    + " DATEEXECUTED " + timestamp + " NOT NULL, ORDEREXECUTED INT NOT NULL,"
                    + " EXECTYPE VARCHAR(10) NOT NULL)");
            exec("CREATE TABLE IF NOT EXISTS DATABASECHANGELOGLOCK (ID INT NOT NULL PRIMARY KEY,"
                    + " LOCKED " + bool + " NOT NULL, LOCKGRANTED " + timestamp + ", LOCKEDBY VARCHAR(255))");
            exec("INSERT INTO DATABASECHANGELOGLOCK (ID, LOCKED) SELECT 1, FALSE"
                    + " WHERE NOT EXISTS (SELECT 1 FROM DATABASECHANGELOGLOCK WHERE ID = 1)");
            if (fresh) {
                log("INFO", "Setting up a new application database");
                exec("CREATE TABLE " + data("REPORT_CARD") + " (ID INT PRIMARY KEY, NAME VARCHAR(255) NOT NULL)");
                exec("INSERT INTO " + data("REPORT_CARD") + " VALUES (1, 'Orders by month'),"
                        + " (2, 'Revenue per product'), (3, 'New customers')");
            }
        }
        return true;
    }

    /** Liquibase's acquireLock: one UPDATE that takes the lock only if it is free (committed at once). */
    static boolean tryLock() throws SQLException {
        synchronized (dbLock) {
            if (conn == null) return false;
            try (PreparedStatement ps = conn.prepareStatement("UPDATE DATABASECHANGELOGLOCK SET LOCKED = TRUE,"
                    + " LOCKGRANTED = ?, LOCKEDBY = ? WHERE ID = 1 AND LOCKED = FALSE")) {
                ps.setTimestamp(1, new Timestamp(System.currentTimeMillis()));
                ps.setString(2, "standin (" + ProcessHandle.current().pid() + ")");
                lockHeldByUs = ps.executeUpdate() == 1;
                return lockHeldByUs;
            }
        }
    }

    static void setLock(boolean locked) throws SQLException {
        synchronized (dbLock) {
            try (PreparedStatement ps = conn.prepareStatement(
                    "UPDATE DATABASECHANGELOGLOCK SET LOCKED = ?, LOCKGRANTED = ?, LOCKEDBY = ? WHERE ID = 1")) {
                ps.setBoolean(1, locked);
                ps.setTimestamp(2, locked ? new Timestamp(System.currentTimeMillis()) : null);
                ps.setString(3, locked ? "standin (" + ProcessHandle.current().pid() + ")" : null);
                ps.executeUpdate();
                if (!locked) lockHeldByUs = false;
            }
        }
    }

    /**
     * The work of one migration, for migration_ms: "cpu" computes in this JVM (as H2 does, in
     * process), "server" keeps the database server busy with one statement while the JVM waits
     * (pg_sleep on PostgreSQL, SLEEP on MySQL/MariaDB; on H2 the server is this JVM, so it
     * computes), "idle" sleeps. Each stops early when we are shutting down.
     */
    static void migrationWork(long ms) throws SQLException {
        if (ms <= 0) return;
        String how = migrationWork.equals("server") && dbType.equals("h2") ? "cpu" : migrationWork;
        long end = System.nanoTime() + ms * 1_000_000L;
        if (how.equals("server")) {
            String secs = String.format(Locale.ROOT, "%.3f", ms / 1000.0);
            String sql = dbType.equals("postgres") ? "SELECT pg_sleep(" + secs + ")" : "SELECT SLEEP(" + secs + ")";
            try (Statement st = conn.createStatement()) {
                running = st;
                if (!shuttingDown) st.execute(sql);
            } finally {
                running = null;
            }
        } else if (how.equals("cpu")) {
            double x = 0;
            while (System.nanoTime() < end && !shuttingDown)
                for (int k = 1; k < 200_000; k++) x += Math.sqrt(k + x % 7);
            sink = x;
        } else {
            while (System.nanoTime() < end && !shuttingDown) sleep(Math.min(50, (end - System.nanoTime()) / 1_000_000L + 1));
        }
    }

    /**
     * One change set, as Liquibase runs it under Metabase: the change, its changelog row, then a
     * commit (liquibase UpdateVisitor commits after every change set, although Metabase's migrate!
     * turned autoCommit off), so other sessions see each row as soon as its change set ends. From
     * v0.51 the "liquibase" logger is at INFO and Liquibase logs the change's confirmation and
     * "ChangeSet ... ran successfully in Nms"; before, nothing. False if we are shutting down.
     */
    static boolean applyMigration(String id) throws SQLException {
        synchronized (dbLock) {
            if (shuttingDown || conn == null) return false;
            long t0 = System.currentTimeMillis();
            String table = data("MIG_" + id.substring(1).replace('.', '_'));
            migrationWork(migrationMs);
            if (shuttingDown) return false;
            exec("CREATE TABLE " + table + " (X INT)");
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO DATABASECHANGELOG"
                    + " (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE) VALUES (?, ?, ?, ?,"
                    + " (SELECT COALESCE(MAX(ORDEREXECUTED), 0) + 1 FROM DATABASECHANGELOG), 'EXECUTED')")) {
                ps.setString(1, id);
                ps.setString(2, AUTHOR);
                ps.setString(3, CHANGELOG_FILE);
                ps.setTimestamp(4, new Timestamp(System.currentTimeMillis()));
                ps.executeUpdate();
            }
            conn.commit();
            if (liquibaseLogs()) {
                logAs("liquibase.changelog", "INFO", "Table " + table.toLowerCase(Locale.ROOT) + " created");
                logAs("liquibase.changelog", "INFO", "ChangeSet " + CHANGELOG_FILE + "::" + id + "::" + AUTHOR
                        + " ran successfully in " + (System.currentTimeMillis() - t0) + "ms");
            }
        }
        return true;
    }

    /** Whether this release logs Liquibase's INFO lines (metabase/metabase PR #47397, v0.51). */
    static boolean liquibaseLogs() {
        return majorVersion() >= 51;
    }

    static int majorVersion() {
        Matcher m = Pattern.compile("v[01]\\.(\\d+)\\..*").matcher(tag);
        return m.matches() ? Integer.parseInt(m.group(1)) : 0;
    }

    /** Metabase's progress steps (core.clj init!*): /api/health reports each one. */
    static void step(double p) {
        progress = p;
    }

    /** Never returns, does nothing: the hang failure mode. */
    static void hangForever() {
        for (;;) sleep(Long.MAX_VALUE);
    }

    /** init!* in Metabase's order: 0.1 0.2 0.3, setup-db! (all migrations), 0.4 ... 0.95, ready. */
    static void init() throws Exception {
        log("INFO", "Starting Metabase version " + tag + " ...");
        step(0.1);
        step(0.2);
        step(0.3);
        log("INFO", "Setting up and migrating Metabase DB. Please sit tight, this may take a minute...");
        if (!setupDb()) return;
        for (double p : new double[] {0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}) {
            if (shuttingDown) return;
            step(p);
        }
        step(1.0);
        ready = true;
        log("INFO", "Metabase Initialization COMPLETE");
        if (fail.equals("crash-after-ready")) {
            sleep(crashAfterMs);
            fatal("Uncaught exception in thread main: java.lang.OutOfMemoryError: Java heap space");
        }
    }

    /** setup.clj setup-db!: connect, downgrade check, migrations. False if shutting down. */
    static boolean setupDb() throws Exception {
        if (!openDb()) return false;
        if (fail.equals("hang")) hangForever();
        checkDowngrade();
        Set<String> have = new LinkedHashSet<>(changelog());
        List<String> missing = new ArrayList<>();
        for (String id : known) if (!have.contains(id)) missing.add(id);
        if (fail.equals("half-migration") && missing.isEmpty()) crashAtStart();

        logAs("app-db.setup", "INFO", "Running Database Migrations...");
        logAs("app-db.setup", "INFO", "Setting up Liquibase...");
        logAs("app-db.setup", "INFO", "Liquibase is ready.");
        if (!autoMigrate()) {
            if (!missing.isEmpty()) printMigrationsAndQuit(missing);
            logAs("app-db.setup", "INFO", "Database Migrations Current ... ✅");
            return true;
        }
        logAs("app-db.liquibase", "INFO", "Checking if Database has unrun migrations...");
        if (missing.isEmpty()) {
            logAs("app-db.liquibase", "INFO", "No unrun migrations found.");
            logAs("app-db.setup", "INFO", "Database Migrations Current ... ✅");
            return true;
        }
        logAs("app-db.liquibase", "INFO", "Database has unrun migrations. Checking if migration lock is taken...");
        if (!waitForMigrationLock()) return false;
        logAs("app-db.liquibase", "INFO", "Running " + missing.size() + " migrations ...");
        long t0 = System.currentTimeMillis();
        synchronized (dbLock) {
            if (conn == null) return false;
            conn.setAutoCommit(false); // migrate!: autoCommit off, Liquibase commits per change set
        }
        for (int i = 0; i < missing.size(); i++) {
            if (!applyMigration(missing.get(i))) return false; // SIGTERM: the lock stays held
            if (fail.equals("half-migration")) {
                String next = i + 1 < missing.size() ? missing.get(i + 1) : missing.get(i) + "-cleanup";
                sleep(migrationMs);
                // the failed change set is rolled back; run-in-scope-locked releases the lock in
                // its finally, whatever the database
                synchronized (dbLock) {
                    if (conn == null) return false;
                    conn.rollback();
                    conn.setAutoCommit(true);
                }
                setLock(false);
                initFailed("liquibase.exception.CommandExecutionException: liquibase.exception.LiquibaseException:"
                        + " liquibase.exception.MigrationFailedException: Migration failed for changeset "
                        + CHANGELOG_FILE + "::" + next + "::" + AUTHOR + ":\n     Reason:"
                        + " liquibase.exception.DatabaseException: " + (dbType.equals("postgres")
                                ? "ERROR: column \"y\" does not exist"
                                : dbType.equals("mysql") ? "(conn=7) Unknown column 'y' in 'field list'"
                                : "Column \"Y\" not found [42122-214]"));
            }
        }
        synchronized (dbLock) {
            if (conn == null) return false;
            conn.setAutoCommit(true);
        }
        setLock(false);
        logAs("app-db.liquibase", "INFO", "Migration complete in " + formatMs(System.currentTimeMillis() - t0));
        logAs("app-db.setup", "INFO", "Database Migrations Current ... ✅");
        return true;
    }

    /** u/format-milliseconds, roughly: "850 ms", "2.3 s", "4.1 mins". */
    static String formatMs(long ms) {
        if (ms < 1000) return ms + " ms";
        if (ms < 60_000) return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
        return String.format(Locale.ROOT, "%.1f mins", ms / 60_000.0);
    }

    /** MB_DB_AUTOMIGRATE (default true). */
    static boolean autoMigrate() {
        String v = env("MB_DB_AUTOMIGRATE");
        return v == null || !v.trim().equalsIgnoreCase("false");
    }

    /**
     * The major version in a changeset ID ("v56.001" -> 56), as liquibase.clj extract-numbers
     * takes it (the first number).
     */
    static int idMajor(String id) {
        Matcher m = Pattern.compile("\\d+").matcher(id);
        return m.find() ? Integer.parseInt(m.group()) : 0;
    }

    /**
     * setup.clj error-if-downgrade-required!: only the MAJOR versions count. The newest major
     * applied (the greatest ID LIKE 'v%') above the newest this release knows: Metabase logs
     * the later change sets and refuses. Unknown IDs of its own major it ignores (Liquibase
     * runs only the change sets it knows and has not run).
     */
    static void checkDowngrade() throws SQLException {
        logAs("app-db.setup", "INFO", "Checking if a database downgrade is required...");
        int available = majorVersion(), applied = 0;
        List<String> later = new ArrayList<>();
        for (String id : changelog()) {
            if (!id.startsWith("v")) continue;
            applied = Math.max(applied, idMajor(id));
            if (idMajor(id) > available) later.add(id);
        }
        if (applied <= available) return;
        logAs("app-db.setup", "WARN", String.format(Locale.ROOT,
                "Database has migrations from v%d but this binary only knows up to v%d:", applied, available));
        for (String id : later) logAs("app-db.setup", "WARN", "  - " + id);
        initFailed("clojure.lang.ExceptionInfo: ERROR: Downgrade detected.\n\n"
                + "Your metabase instance appears to have been downgraded without a corresponding database downgrade.\n\n"
                + "You must run `java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate down` from"
                + " version " + applied + ".\n\n"
                + "Once your database has been downgraded, try running the application again.\n\n"
                + "See: https://www.metabase.com/docs/latest/installation-and-operation/upgrading-metabase"
                + "#rolling-back-an-upgrade {}");
    }

    static final String LOCK_MESSAGE = "Database has migration lock; cannot run migrations. You can force-release"
            + " these locks by running `java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate"
            + " release-locks`.";

    /**
     * liquibase.clj wait-for-migration-lock: try to take the lock; on failure sleep 2 s, and
     * retry 5 times (u/auto-retry 5: six tries in all, each failure logged), then give up with
     * the LockException. False if we are shutting down.
     */
    static boolean waitForMigrationLock() throws SQLException {
        for (int failures = 0;; ) {
            if (shuttingDown) return false;
            if (tryLock()) {
                if (failures > 0) {
                    logAs("app-db.liquibase", "WARN", "Migration lock was acquired after " + failures + " retries.");
                } else {
                    logAs("app-db.liquibase", "INFO", "No migration lock found.");
                    logAs("app-db.liquibase", "INFO", "Migration lock acquired.");
                }
                return true;
            }
            sleep(2000);
            failures++;
            if (failures > 5 && inCommand) throw new CommandError("liquibase.exception.LockException", LOCK_MESSAGE);
            if (failures > 5) initFailed("liquibase.exception.LockException: " + LOCK_MESSAGE);
            logAs("util.jvm", "WARN", "auto-retry metabase.app_db.liquibase$wait_for_migration_lock$fn__51234@1b2c3d4e: "
                    + LOCK_MESSAGE);
        }
    }

    /**
     * MB_DB_AUTOMIGRATE=false with migrations to run: setup.clj print-migrations-and-quit-if-needed!
     * logs the SQL (Liquibase's update SQL, here a short likeness of it) and throws.
     */
    static void printMigrationsAndQuit(List<String> missing) {
        boolean pg = dbType.equals("postgres"), my = dbType.equals("mysql");
        String schema = pg ? "public." : my ? "" : "PUBLIC.";
        String log = my ? "DATABASECHANGELOG" : pg ? "databasechangelog" : "DATABASECHANGELOG";
        String lock = my ? "DATABASECHANGELOGLOCK" : pg ? "databasechangeloglock" : "DATABASECHANGELOGLOCK";
        StringBuilder sql = new StringBuilder();
        sql.append("-- *********************************************************************\n")
           .append("-- Update Database Script\n")
           .append("-- *********************************************************************\n")
           .append("-- Change Log: ").append(CHANGELOG_FILE).append("\n")
           .append("-- *********************************************************************\n\n")
           .append("-- Lock Database\n")
           .append("UPDATE ").append(schema).append(lock).append(" SET LOCKED = TRUE, LOCKEDBY = 'standin',"
                   + " LOCKGRANTED = NOW() WHERE ID = 1 AND LOCKED = FALSE;\n\n");
        int order = 0;
        for (String id : missing) {
            String table = "mig_" + id.substring(1).replace('.', '_');
            sql.append("-- Changeset ").append(CHANGELOG_FILE).append("::").append(id).append("::").append(AUTHOR)
               .append("\nCREATE TABLE ").append(schema).append(table).append(" (x INT);\n\n")
               .append("INSERT INTO ").append(schema).append(log)
               .append(" (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE) VALUES ('").append(id)
               .append("', '").append(AUTHOR).append("', '").append(CHANGELOG_FILE).append("', NOW(), ")
               .append(++order).append(", 'EXECUTED');\n\n");
        }
        sql.append("-- Release Database Lock\n")
           .append("UPDATE ").append(schema).append(lock)
           .append(" SET LOCKED = FALSE, LOCKEDBY = NULL, LOCKGRANTED = NULL WHERE ID = 1;\n");
        logAs("app-db.setup", "INFO", "Database Upgrade Required\n\n"
                + "NOTICE: Your database requires updates to work with this version of Metabase.\n"
                + "Please execute the following sql commands on your database before proceeding.\n\n"
                + sql + "\n\n"
                + "Once your database is updated try running the application again.\n");
        initFailed("java.lang.Exception: Database requires manual upgrade.");
    }

    /** Thrown by initFailed(), once logged: the init thread exits 1 (outside any lock). */
    static class InitFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    /** The end of init!* on an exception: start-normally logs it and exits 1. */
    static void initFailed(String exception) {
        logAs("metabase.core", "ERROR", "Metabase Initialization FAILED\n" + exception);
        throw new InitFailure();
    }

    static void crashAtStart() {
        sleep(200);
        fatal("Metabase Initialization FAILED\njava.lang.ExceptionInInitializerError\n"
                + "Caused by: java.lang.IllegalStateException: Cannot load driver metabase.driver." + dbType
                + " (a bad release)");
    }

    // ---- main ---------------------------------------------------------------------------

    /**
     * `java -jar metabase.jar migrate release-locks`: setup.clj migrate! :release-locks, which calls
     * liquibase.clj force-release-locks!. In the newest source that refuses on anything but H2
     * (its ex-info message keeps the literal "%s"); cmd/core.clj run-cmd prints the stack trace,
     * "Command failed with exception: <message>" and exits 1. On H2 it clears the lock, exit 0.
     */
    static void releaseLocks() throws Exception {
        if (!dbType.equals("h2"))
            throw new CommandError("clojure.lang.ExceptionInfo", "Database %s does not support forcing migration"
                    + " locks. The lock is always automatically removed when the process performing the migration"
                    + " completes or fails.", " {:db-type :" + dbType + "}");
        setLock(false);
    }

    /** An exception out of a `migrate` command: cmd/core.clj run-cmd prints it and exits 1. */
    static class CommandError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String type, data;

        CommandError(String type, String msg) {
            this(type, msg, "");
        }

        CommandError(String type, String msg, String data) {
            super(msg);
            this.type = type;
            this.data = data;
        }
    }

    /**
     * `java -jar metabase.jar migrate DIRECTION`: cmd/core.clj `migrate` (one argument), then
     * setup.clj migrate!: "Setting up Liquibase...", "Liquibase is ready.", the direction (an
     * unknown one is Clojure's `case` failing), commit; run-cmd exits 0, or on an exception prints
     * its stack trace on stderr and "Command failed with exception: <message>" on stdout, exit 1.
     * No connection check and no downgrade check here: those are setup-db!'s, the server's.
     */
    static void migrateCommand(String[] args) throws Exception {
        inCommand = true;
        if (args.length != 2) {
            System.out.println("Usage:\nmigrate [direction]");
            System.out.println("The 'migrate' command requires the following arguments: [direction], but received: "
                    + Arrays.toString(Arrays.copyOfRange(args, 1, args.length)) + ".");
            die(1);
        }
        try {
            if (!openDb()) die(0);
            logAs("app-db.setup", "INFO", "Setting up Liquibase...");
            logAs("app-db.setup", "INFO", "Liquibase is ready.");
            if (args[1].equals("release-locks")) releaseLocks();
            else if (args[1].equals("down")) migrateDown();
            else if (List.of("up", "force", "down-force", "print").contains(args[1]))
                fatal("The stand-in does not model `migrate " + args[1] + "`");
            else throw new CommandError("java.lang.IllegalArgumentException", "No matching clause: :" + args[1]);
            synchronized (dbLock) {
                conn.setAutoCommit(true);
            }
        } catch (SQLException e) {
            System.err.println(e);
            System.out.println("Command failed with exception: " + e.getMessage());
            die(1);
        } catch (CommandError e) {
            System.err.println(e.type + ": " + e.getMessage() + e.data);
            System.err.println("\tat metabase.app_db.setup$migrate_BANG_.invokeStatic(setup.clj)");
            System.out.println("Command failed with exception: " + e.getMessage());
            die(1);
        }
        die(0);
    }

    /**
     * liquibase.clj rollback-major-version! (0804483b), with force false and the target the JAR's
     * major minus one, inside with-scope-locked (the migration lock: wait-for-migration-lock's six
     * tries, released in a finally). Every applied change set whose ID starts with v and whose
     * first number is above the target is to go: those this JAR's changelog has are rolled back
     * in reverse changelog order (the change undone, the row deleted, committed one by one); the
     * others' rows are then deleted with their schema left as is. A database with a major newer
     * than this JAR's changelog is refused before anything changes. A change set whose rollback
     * fails stops the rollback; the rest stay, a warning names them, and the command still exits 0.
     */
    static void migrateDown() throws Exception {
        int current = majorVersion(), target = current - 1;
        if (target < 44)
            throw new CommandError("java.lang.IllegalArgumentException", String.format(Locale.ROOT,
                    "target version must be a number between 44 and the previous major version (%d), inclusive",
                    current));
        if (!waitForMigrationLock()) die(0);
        synchronized (dbLock) {
            conn.setAutoCommit(false);
        }
        try {
            rollbackMajorVersion(target);
        } finally {
            synchronized (dbLock) {
                if (conn != null) {
                    conn.rollback();
                    setLock(false);
                    conn.commit();
                }
            }
        }
    }

    static void rollbackMajorVersion(int target) throws SQLException {
        List<String> ids = new ArrayList<>();
        for (String id : changelog())
            if (id.startsWith("v")) ids.add(id);
        Set<String> toDrop = new LinkedHashSet<>();
        for (String id : ids)
            if (idMajor(id) > target) toDrop.add(id);
        int available = idMajor(known.get(known.size() - 1));
        int applied = ids.isEmpty() ? 0 : idMajor(Collections.max(ids));
        if (applied > available)
            throw new CommandError("clojure.lang.ExceptionInfo", String.format(Locale.ROOT, "Cannot downgrade a"
                    + " database at version %d from Metabase version %d. You must run 'migrate down' from Metabase"
                    + " version >= %d.", applied, available, applied), String.format(Locale.ROOT,
                    " {:latest-available %d, :latest-applied %d}", available, applied));
        logAs("app-db.liquibase", "INFO", "Rolling back app database schema to version " + target);
        if (toDrop.isEmpty()) {
            logAs("app-db.liquibase", "INFO", "No changesets to roll back");
            return;
        }
        List<String> errors = new ArrayList<>();
        for (int i = known.size() - 1; i >= 0 && errors.isEmpty(); i--) {
            String id = known.get(i);
            if (!toDrop.contains(id)) continue;
            logAs("app-db.liquibase", "INFO", "Going to roll back changeset " + id);
            if (!rollbackChangeSet(id)) errors.add(id);
        }
        List<String> remaining = new ArrayList<>(changelog());
        remaining.retainAll(toDrop);
        if (remaining.isEmpty()) return;
        if (!errors.isEmpty()) {
            logAs("app-db.liquibase", "WARN", "The following changesets were not rolled back due to errors ("
                    + String.join(", ", errors) + "): " + String.join(", ", remaining));
            return;
        }
        logAs("app-db.liquibase", "INFO", "Cleaning up " + remaining.size()
                + " changelog entries with mismatched filenames");
        synchronized (dbLock) {
            for (String id : remaining) deleteChangelogRow(id);
            conn.commit();
        }
    }

    static void deleteChangelogRow(String id) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement("DELETE FROM DATABASECHANGELOG WHERE ID = ?")) {
            ps.setString(1, id);
            ps.executeUpdate();
        }
    }

    /**
     * Liquibase's RollbackVisitor on one change set: its change undone (createTable's automatic
     * rollback, a DROP TABLE), its row removed, committed. On an error: rolled back, logged as
     * Metabase's rollbackFailed listener does, false.
     */
    static boolean rollbackChangeSet(String id) throws SQLException {
        synchronized (dbLock) {
            try {
                exec("DROP TABLE " + data("MIG_" + id.substring(1).replace('.', '_')));
                deleteChangelogRow(id);
                conn.commit();
                return true;
            } catch (SQLException e) {
                conn.rollback();
                logAs("app-db.liquibase", "ERROR", "Error rolling back migration " + id
                        + "\nliquibase.exception.RollbackFailedException: liquibase.exception.DatabaseException: "
                        + e.getMessage());
                return false;
            }
        }
    }

    static final long SHUTDOWN_LOCK_WAIT_MS = 20_000; // destroy!: "a 30s default termination grace period"

    /**
     * setup.clj release-migration-locks! 20, from destroy!: if this process holds the migration
     * lock, the migrations go on while it waits up to 20 s for the lock to be released; then it
     * gives up, and releases the lock by force on H2 only (liquibase.clj release-lock-if-needed!):
     * on PostgreSQL and MySQL the lock stays held, and the change set in progress is lost with
     * the connection.
     */
    static void releaseMigrationLocksOnShutdown() {
        if (!lockHeldByUs) return;
        logAs("app-db.liquibase", "INFO", "Waiting for migration lock(s) to be released (max 20.0 secs)");
        long end = System.nanoTime() + SHUTDOWN_LOCK_WAIT_MS * 1_000_000L;
        while (lockHeldByUs && System.nanoTime() < end) sleep(100);
        if (!lockHeldByUs) {
            logAs("app-db.setup", "INFO", "Migration lock(s) have been released");
            return;
        }
        logAs("app-db.setup", "WARN", "Releasing liquibase locks on shutdown");
        shuttingDown = true; // the migration stops where it is
        Statement st = running;
        if (st != null) {
            try { st.cancel(); } catch (SQLException e) { log("WARN", "Cancelling the migration: " + e); }
        }
        synchronized (dbLock) {
            if (conn == null) return;
            try {
                conn.rollback();
                conn.setAutoCommit(true);
                if (dbType.equals("h2")) setLock(false);
            } catch (SQLException e) {
                log("WARN", "Releasing the lock: " + e);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopRequested = true;
            HttpServer s = server;
            // destroy!, the hook init!* registers at step 0.2, logs on any exit after that
            boolean hooked = progress >= 0.2 || (exitCode == 0 && s != null);
            if (hooked) log("INFO", "Metabase Shutting Down ...");
            if (s != null) s.stop(0);
            if (hooked) releaseMigrationLocksOnShutdown();
            shuttingDown = true;
            Statement st = running;
            if (st != null) {
                try { st.cancel(); } catch (SQLException e) { log("WARN", "Cancelling the migration: " + e); }
            }
            synchronized (dbLock) { // waits for the migration step in progress
                if (conn != null) {
                    try { conn.close(); } catch (SQLException e) { log("WARN", "Closing the database: " + e); }
                    conn = null;
                }
            }
            if (hooked) log("INFO", "Metabase Shutdown COMPLETE");
            System.out.flush();
            Runtime.getRuntime().halt(exitCode); // 0 on SIGTERM (the JVM would say 143)
        }, "shutdown"));

        version = resource("/version.properties");
        knobs = resource("/standin.properties");
        tag = version.getProperty("tag", "vUNKNOWN").trim();
        if (args.length > 0 && args[0].equals("version")) { // cmd/core.clj version
            StringBuilder info = new StringBuilder();
            for (String k : List.of("tag", "hash", "branch", "date"))
                if (version.getProperty(k) != null)
                    info.append(info.length() > 0 ? ", " : "").append(":").append(k).append(" ").append(version.getProperty(k));
            System.out.println("Metabase version: {" + info + "}");
            System.out.println("\nOS: " + System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                    + System.getProperty("os.arch"));
            System.out.println("\nJava version: " + System.getProperty("java.vm.name") + " "
                    + System.getProperty("java.version"));
            die(0);
        }
        fail = knob("STANDIN_FAIL", "fail", "none");
        List<String> modes = List.of("none", "crash-at-start", "never-ready", "crash-after-ready",
                "half-migration", "slow-migration", "hang");
        if (!modes.contains(fail)) fatal("Unknown STANDIN_FAIL / fail= mode: " + fail);
        startupMs = knobMs("STANDIN_STARTUP_MS", "startup_ms", 0);
        migrationMs = knobMs("STANDIN_MIGRATION_MS", "migration_ms", fail.equals("slow-migration") ? 2000 : 0);
        crashAfterMs = knobMs("STANDIN_CRASH_AFTER_MS", "crash_after_ms", 1500);
        readChangelog();
        dbType = configuredDbType();
        migrationWork = knob("STANDIN_MIGRATION_WORK", "migration_work", dbType.equals("h2") ? "cpu" : "server");
        if (!List.of("cpu", "server", "idle").contains(migrationWork))
            fatal("Invalid value for migration_work: " + migrationWork + " (cpu, server or idle)");

        log("INFO", "Metabase " + tag + " starting (hash " + version.getProperty("hash", "?")
                + (version.getProperty("branch") == null ? "" : ", branch " + version.getProperty("branch"))
                + ", date " + version.getProperty("date", "?") + ", stand-in fail=" + fail + ", java "
                + System.getProperty("java.version") + ")");
        // What a real Metabase would do about the outside world, for the tests to check (a rehearsal
        // sends no e-mail and runs no scheduled jobs).
        log("INFO", "Settings from the environment: scheduler "
                + (System.getenv().getOrDefault("MB_DISABLE_SCHEDULER", "").equals("true") ? "disabled" : "enabled")
                + ", email-smtp-host " + System.getenv().getOrDefault("MB_EMAIL_SMTP_HOST", "(unset)")
                + ", email-smtp-port " + System.getenv().getOrDefault("MB_EMAIL_SMTP_PORT", "(unset)")
                + ", check-for-updates " + System.getenv().getOrDefault("MB_CHECK_FOR_UPDATES", "(unset)"));
        if (!dbType.equals("h2") && !dbType.equals("postgres") && !dbType.equals("mysql"))
            fatal("Unsupported MB_DB_TYPE '" + dbType + "': this stand-in only supports h2, postgres and mysql");
        if (args.length > 0 && args[0].equals("migrate")) migrateCommand(args);
        if (args.length > 0) fatal("Unknown command: " + String.join(" ", args));

        sleep(startupMs);
        if (fail.equals("crash-at-start")) crashAtStart();
        progress = 0;
        startServer();
        if (fail.equals("never-ready")) {
            step(0.1);
            step(0.2);
            step(0.3); // never moves; the HTTP threads keep answering 503
            return;
        }
        Thread init = new Thread(() -> {
            try {
                init();
            } catch (InitFailure e) {
                die(1);
            } catch (Throwable e) {
                if (shuttingDown) return;
                logAs("metabase.core", "ERROR", "Metabase Initialization FAILED\n" + e);
                die(1);
            }
        }, "init");
        init.start();
    }
}
