// SPDX-License-Identifier: MIT
//
// Stand-in Metabase for the mbupgraded integration tests. It behaves like Metabase
// where the upgrader can see it: version.properties, /api/health while starting and
// migrating, /api/session/properties, a Liquibase-style DATABASECHANGELOG with a
// migration lock in an H2, PostgreSQL or MySQL/MariaDB application database, refusal of a
// newer schema ("Downgrade detected"), clean stop on SIGTERM, and knobs for failing releases.
// JDK (com.sun.net.httpserver) and the H2, PostgreSQL and MariaDB JDBC drivers only. See
// ../README.md.
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
    static volatile boolean ready, shuttingDown;
    static volatile double progress;
    static volatile int exitCode = 0; // what the shutdown hook exits with (0 on SIGTERM)
    static volatile Statement running; // the statement of a "server" migration, cancelled on SIGTERM
    static volatile double sink; // keeps the "cpu" migration work from being optimised away

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
        if (shuttingDown) { // already stopping (SIGTERM): keep its exit code, just wait
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

    /** Environment variable, else standin.properties, else the default. */
    static String knob(String env, String key, String dflt) {
        String v = System.getenv(env);
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

    /** v0.M.m(.h) or v1.M.m(.h): v50.001..v50.020, ..., vM.001..vM.m. */
    static void deriveMigrations() {
        Matcher m = Pattern.compile("v[01]\\.(\\d+)\\.(\\d+)(\\.\\d+)?").matcher(tag);
        if (!m.matches()) fatal("Cannot parse version tag '" + tag + "' from version.properties");
        int major = Integer.parseInt(m.group(1)), minor = Integer.parseInt(m.group(2));
        for (int maj = 50; maj <= major; maj++)
            for (int n = 1; n <= (maj < major ? 20 : minor); n++)
                known.add(String.format(Locale.ROOT, "v%d.%03d", maj, n));
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
            logAs("app-db.setup", "INFO", "Verifying " + dbType + " Database Connection ...");
            log("INFO", "(stand-in) connecting to " + redact(url)
                    + (props.containsKey("user") ? " as " + props.getProperty("user") : ""));
            Connection c = DriverManager.getConnection(url, props);
            DatabaseMetaData md = c.getMetaData();
            logAs("app-db.setup", "INFO", "Successfully verified " + md.getDatabaseProductName() + " "
                    + md.getDatabaseProductVersion() + " application database connection. ✅");
            return c;
        }
        String path = dbPath();
        logAs("app-db.setup", "INFO", "Verifying h2 Database Connection ...");
        log("INFO", "(stand-in) using H2 database file " + path + ".mv.db");
        return DriverManager.getConnection("jdbc:h2:file:" + path + ";DB_CLOSE_ON_EXIT=FALSE", "", "");
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

    static boolean lockHeld() throws SQLException {
        synchronized (dbLock) {
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT LOCKED FROM DATABASECHANGELOGLOCK WHERE ID = 1")) {
                return rs.next() && rs.getBoolean(1);
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
        logAs("app-db.setup", "INFO", "Checking if a database downgrade is required...");
        Set<String> have = new LinkedHashSet<>(changelog());
        for (String id : have)
            if (!known.contains(id))
                fatal("Downgrade detected: the application database was migrated by a newer version of"
                        + " Metabase (found migration " + id + ")");
        List<String> missing = new ArrayList<>();
        for (String id : known) if (!have.contains(id)) missing.add(id);
        if (fail.equals("half-migration") && missing.isEmpty()) crashAtStart();

        logAs("app-db.setup", "INFO", "Running Database Migrations...");
        logAs("app-db.setup", "INFO", "Setting up Liquibase...");
        logAs("app-db.setup", "INFO", "Liquibase is ready.");
        logAs("app-db.liquibase", "INFO", "Checking if Database has unrun migrations...");
        if (!missing.isEmpty()) {
            logAs("app-db.liquibase", "INFO", "Database has unrun migrations. Checking if migration lock is taken...");
            if (lockHeld())
                fatal("Database has migration lock; cannot run migrations. You can force-release these locks"
                        + " by running `java -jar metabase.jar migrate release-locks`.");
            setLock(true);
            logAs("app-db.liquibase", "INFO", "No migration lock found.");
            logAs("app-db.liquibase", "INFO", "Migration lock acquired.");
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
                    fatal("Metabase Initialization FAILED\nliquibase.exception.MigrationFailedException: Migration"
                            + " failed for changeset " + CHANGELOG_FILE + "::" + next + "::" + AUTHOR + ":\n     Reason:"
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
            logAs("app-db.liquibase", "INFO", "Migration complete in " + (System.currentTimeMillis() - t0) + " ms");
        } else {
            logAs("app-db.liquibase", "INFO", "No unrun migrations found.");
        }
        logAs("app-db.setup", "INFO", "Database Migrations Current ... ✅");
        return true;
    }

    static void crashAtStart() {
        sleep(200);
        fatal("Metabase Initialization FAILED\njava.lang.ExceptionInInitializerError\n"
                + "Caused by: java.lang.IllegalStateException: Cannot load driver metabase.driver." + dbType
                + " (a bad release)");
    }

    // ---- main ---------------------------------------------------------------------------

    /** `java -jar metabase.jar migrate release-locks`, like the real one. */
    static void releaseLocks() throws Exception {
        if (openDb()) {
            setLock(false);
            log("INFO", "Migration lock released");
        }
        die(0);
    }

    public static void main(String[] args) throws Exception {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            shuttingDown = true;
            HttpServer s = server;
            if (exitCode == 0 && s != null) log("INFO", "Metabase Shutting Down ...");
            if (s != null) s.stop(0);
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
            if (exitCode == 0 && s != null) log("INFO", "Metabase Shutdown COMPLETE");
            System.out.flush();
            Runtime.getRuntime().halt(exitCode); // 0 on SIGTERM (the JVM would say 143)
        }, "shutdown"));

        version = resource("/version.properties");
        knobs = resource("/standin.properties");
        tag = version.getProperty("tag", "vUNKNOWN").trim();
        if (args.length > 0 && args[0].equals("version")) {
            System.out.println("Metabase " + tag + " (hash " + version.getProperty("hash", "?") + ")");
            die(0);
        }
        fail = knob("STANDIN_FAIL", "fail", "none");
        List<String> modes = List.of("none", "crash-at-start", "never-ready", "crash-after-ready",
                "half-migration", "slow-migration", "hang");
        if (!modes.contains(fail)) fatal("Unknown STANDIN_FAIL / fail= mode: " + fail);
        startupMs = knobMs("STANDIN_STARTUP_MS", "startup_ms", 0);
        migrationMs = knobMs("STANDIN_MIGRATION_MS", "migration_ms", fail.equals("slow-migration") ? 2000 : 0);
        crashAfterMs = knobMs("STANDIN_CRASH_AFTER_MS", "crash_after_ms", 1500);
        deriveMigrations();
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
        if (args.length >= 2 && args[0].equals("migrate") && args[1].equals("release-locks")) releaseLocks();
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
            } catch (Throwable e) {
                if (shuttingDown) return;
                log("ERROR", "Metabase Initialization FAILED: " + e);
                die(1);
            }
        }, "init");
        init.start();
    }
}
