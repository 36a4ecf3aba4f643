/*
 * store/checkpointer.c - WAL checkpoints on a thread of their own.
 *
 * SQLite normally checkpoints inside the COMMIT that pushes the WAL past
 * 1000 pages: the committing thread then reads those pages back from the WAL,
 * writes them into the database file and fsyncs it. In nasd that thread is
 * the only one that serves workers, and the checkpoint was 9% of its time
 * (perf, 256 sim workers), paid in bursts that stretched the round trip of
 * every job behind it. Here a second connection, on a second thread, runs a
 * PASSIVE checkpoint every period: it copies what is committed without
 * blocking the writer, and the writer restarts the WAL from its start once
 * everything was copied, so the WAL stays small and in the page cache.
 *
 * Durability is unchanged: a commit is durable in the WAL (synchronous =
 * NORMAL) whoever copies it into the database later, and a crash before the
 * copy is replayed by SQLite on the next open, as before.
 */
#include "store/checkpointer.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

struct nas_checkpointer {
    sqlite3 *db;              /* this thread's own connection */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;                /* under lock */
    double period_s;
};

/* A connection learns that the database is in WAL mode only when it first
 * reads it; until then a checkpoint on it is a silent no-op (it reports -1
 * frames). One read of the schema opens the WAL for good. */
static void open_wal(sqlite3 *db) { sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL); }

static void *run(void *arg) {
    nas_checkpointer *cp = arg;
    pthread_mutex_lock(&cp->lock);
    while (!cp->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)(cp->period_s * 1e9);
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        int rc = 0;
        while (!cp->stop && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cp->wake, &cp->lock, &until);
        if (cp->stop) break;
        pthread_mutex_unlock(&cp->lock);
        int wal_frames = 0;
        /* PASSIVE: copies what no reader still needs and never waits on the
         * writer; a busy result (a reader mid-checkpoint) just waits for the
         * next period, and the writer's own checkpoint bounds the WAL if
         * this keeps failing (store.h) */
        if (sqlite3_wal_checkpoint_v2(cp->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, NULL) == SQLITE_OK &&
            wal_frames < 0) /* this connection has not opened the WAL yet (see open_wal) */
            open_wal(cp->db);
        pthread_mutex_lock(&cp->lock);
    }
    pthread_mutex_unlock(&cp->lock);
    return NULL;
}

int nas_checkpointer_new(const char *path, double period_s, nas_checkpointer **out, nas_err *err) {
    *out = NULL;
    nas_checkpointer *cp = calloc(1, sizeof *cp);
    if (!cp) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    cp->period_s = period_s > 0 ? period_s : 0.1;
    if (sqlite3_open_v2(path, &cp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        nas_err_set(err, NAS_EDB, "cannot open %s for background checkpoints: %s", path,
                    cp->db ? sqlite3_errmsg(cp->db) : "out of memory");
        sqlite3_close(cp->db);
        free(cp);
        return NAS_EDB;
    }
    sqlite3_busy_timeout(cp->db, 100);
    open_wal(cp->db);
    pthread_mutex_init(&cp->lock, NULL);
    pthread_cond_init(&cp->wake, NULL);
    int rc = pthread_create(&cp->thread, NULL, run, cp);
    if (rc != 0) {
        pthread_cond_destroy(&cp->wake);
        pthread_mutex_destroy(&cp->lock);
        sqlite3_close(cp->db);
        free(cp);
        return nas_err_set(err, NAS_EIO, "cannot start the checkpoint thread: error %d", rc);
    }
    *out = cp;
    return 0;
}

void nas_checkpointer_free(nas_checkpointer **cpp) {
    if (!cpp || !*cpp) return;
    nas_checkpointer *cp = *cpp;
    pthread_mutex_lock(&cp->lock);
    cp->stop = true;
    pthread_cond_signal(&cp->wake);
    pthread_mutex_unlock(&cp->lock);
    pthread_join(cp->thread, NULL);
    sqlite3_close(cp->db);
    pthread_cond_destroy(&cp->wake);
    pthread_mutex_destroy(&cp->lock);
    free(cp);
    *cpp = NULL;
}
