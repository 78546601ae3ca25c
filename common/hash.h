/* SPDX-License-Identifier: MIT */
#pragma once

/* SHA-256 through OpenSSL's EVP interface (which uses the CPU's SHA extensions). */

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */

typedef struct Sha256 Sha256;

int sha256_new(Sha256 **ret);
int sha256_update(Sha256 *s, const void *p, size_t n);
/* Finishes the digest and writes it as lowercase hex. The context can't be updated after. */
int sha256_final_hex(Sha256 *s, char ret_hex[static SHA256_HEX_SIZE]);
Sha256 *sha256_free(Sha256 *s);

/* Hashes a whole file from offset 0 with large reads; returns its size too (ret_size may be NULL). */
int sha256_fd(int fd, char ret_hex[static SHA256_HEX_SIZE], uint64_t *ret_size);

/* True if s is exactly 64 hex digits (either case). */
int sha256_hex_is_valid(const char *s);
