/* SPDX-License-Identifier: MIT */
#pragma once

/* FileWriter: writes a stream to a file from a given offset on, and hashes it with SHA-256, in a
 * thread of its own. The caller's writes are copied into a ring of buffers (FILE_WRITER_RING_SIZE
 * bytes in all); the thread writes each buffer with pwrite() and hashes that same buffer. On two
 * cores this takes the writing and the hashing off the thread that receives and decrypts.
 *
 * The file descriptor stays the caller's and must outlive the FileWriter. All functions are called
 * from one thread, the caller's. Errors are the thread's pwrite() or hashing errors, negative errno,
 * returned by the next call after they happened; after one, nothing more is written. */

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define FILE_WRITER_RING_SIZE (16U * 256U * 1024U)

typedef struct FileWriter FileWriter;

/* Writes start at offset; sha256 (taken over, freed by the FileWriter even on failure) has
 * hashed the file's first offset bytes already. */
int file_writer_new(int fd, uint64_t offset, Sha256 *sha256, FileWriter **ret);
/* Copies n bytes into the ring; waits while the ring is full. */
int file_writer_write(FileWriter *w, const void *p, size_t n);
/* Waits until everything given to file_writer_write() is in the file and hashed. */
int file_writer_flush(FileWriter *w);
/* Flushes, then starts over at offset 0 with an empty hash (before the caller truncates the file). */
int file_writer_reset(FileWriter *w);
/* Flushes, and returns the digest of the file's first ret_size bytes. Nothing may be written after. */
int file_writer_finish(FileWriter *w, char ret_hex[static SHA256_HEX_SIZE], uint64_t *ret_size);
/* Stops the thread (whatever it has not written yet is dropped) and frees everything. */
FileWriter *file_writer_free(FileWriter *w);
