/*
 * store/checkpointer.h - WAL checkpoints off the writer's thread (internal
 * to store/: reached through nas_store_checkpoint_in_background).
 */
#ifndef NAS_STORE_CHECKPOINTER_H
#define NAS_STORE_CHECKPOINTER_H

#include <stdbool.h>

#include "common/error.h"

typedef struct nas_checkpointer nas_checkpointer;

/* Opens its own connection to the database at path (which must exist and be
 * in WAL mode) and starts a thread that runs a PASSIVE checkpoint every
 * period_s seconds. The writer's connection should have its automatic
 * checkpoints turned off, or both would do the work. */
int nas_checkpointer_new(const char *path, double period_s, nas_checkpointer **out, nas_err *err);

/* Stops the thread (waiting for a checkpoint in progress) and closes its
 * connection. NULL-safe. */
void nas_checkpointer_free(nas_checkpointer **cp);

#endif
