/* SPDX-License-Identifier: MIT */
#pragma once

/* mbupgraded-db for a MySQL or MariaDB application database (mysql.c): the same verbs and report
 * lines as for PostgreSQL, selected by MBUP_DB_KIND=mysql; and its pure parts, for the tests. */

#include <stdbool.h>
#include <stddef.h>

/* preflight | backup FILE | restore FILE (argv as db.c's main() has checked it), with the
 * connection from MBUP_MY_DEFAULTS and MBUP_MY_DATABASE; the exit status (0, 1 with an "error"
 * line, 2 for usage). */
int mysql_main(int argc, char *argv[]);

/* A database name the helper accepts: 1..64 bytes, printable, no leading '-' (it goes to
 * mysqldump as an argument) and no trailing space (MySQL refuses those). */
bool mydb_database_name_is_valid(const char *s);

/* `name` with backticks doubled, for SQL. NULL on OOM. */
char *mydb_quote_identifier(const char *name);

/* Whether the first bytes of a file are a mysqldump/mariadb-dump header ("-- MySQL dump" or
 * "-- MariaDB dump" on one of its first lines) and whether its last bytes end with the line
 * "-- Dump completed..." that the dump writes last. Each NULL when it is, else why not. */
const char *mydb_dump_head_problem(const char *head, size_t n);
const char *mydb_dump_tail_problem(const char *tail, size_t n);

/* The 1-based line of the first client command in a dump's text, 0 when it has none: a backslash
 * outside quotes ("\! cmd", "\. file", "SELECT 1; \! cmd"), or a line that starts with one of
 * the client's own words that reach the file system or another server (system, source, tee,
 * pager, edit, connect). mariadb-dump writes neither (newlines and backslashes in values are
 * escaped inside quotes); MariaDB's sandbox marker on the first line is not one. Checked before
 * anything is dropped, so a tampered dump is refused whole; the client's --sandbox is the
 * guarantee, this the early refusal. */
size_t mydb_dump_client_command(const char *s, size_t n);
