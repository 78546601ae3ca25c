/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the journal reader: operation_parse() on anything (a journal torn by a
 * power cut, a disk error, a hand edit). What it accepts must be what the daemon could have
 * written, must format again, and must read back to the same text: resume acts on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Operation *op = NULL, *again = NULL;
        char *text, *text2, *history;

        if (operation_parse((const char *) data, size, &op) < 0) {
                if (op)
                        abort(); /* nothing returned on failure */
                return 0;
        }
        if (!op || op->kind < 0 || op->kind >= _OPERATION_KIND_MAX || op->step < 0 ||
            op->step >= _STEP_MAX || !op->unit || !op->jar_path)
                abort();
        text = operation_format(op);
        if (!text)
                abort();
        if (operation_parse(text, strlen(text), &again) < 0)
                abort();
        text2 = operation_format(again);
        if (!text2 || strcmp(text, text2) != 0)
                abort();
        history = operation_to_history_json(op);
        if (!history || strchr(history, '\n'))
                abort();
        free(history);
        free(text);
        free(text2);
        operation_free(op);
        operation_free(again);
        return 0;
}
