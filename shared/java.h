/* SPDX-License-Identifier: MIT */
#pragma once

/* Which Java runs Metabase: the feature version (11, 17, 21) of the binary in ExecStart. */

/* Reads the JDK's "release" file next to the resolved binary (JAVA_VERSION="17.0.15"), and
 * only if there is none runs "java -version". Blocking: call from a worker. */
int java_feature_version(const char *java_path, unsigned *ret, char **ret_error);

/* "17.0.15" -> 17, "1.8.0_392" -> 8. */
int java_parse_version(const char *s, unsigned *ret);
