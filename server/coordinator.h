/*
 * server/coordinator.h - nasd's brain: jobs, leases, workers, budget, results.
 *
 * The coordinator owns the in-memory view of open jobs (queued and leased)
 * and of connected workers, and keeps the store as the truth: every state
 * change of a job that was handed out is written in the current transaction,
 * results are acknowledged and jobs sent only after that transaction
 * commits, and a new coordinator on the same store rebuilds everything
 * (results are replayed into the strategy, open jobs become queued or leased
 * again). A job is first written when it is first handed out, already
 * leased: until then it is a proposal in memory that a restarted strategy
 * simply makes again (coordinator.c, create_job). It never touches sockets: frames
 * come in through nas_coord_on_frame and go out through a send callback, so
 * the whole protocol can be tested without ZeroMQ.
 *
 * Rules (DESIGN.md): a job is leased to one worker; heartbeats extend the
 * lease; an expired lease or a retryable failure re-queues the job at
 * attempt+1 up to max_attempts, then it is failed; a handed-back job is
 * re-queued at the same attempt; the first result of a job wins and later
 * copies are acknowledged and dropped. The evaluation budget counts train
 * jobs that reached a final state (done or failed); no more train jobs than
 * the budget are ever created, so the store ends with exactly the budgeted
 * number of train results when nothing fails.
 */
#ifndef NAS_SERVER_COORDINATOR_H
#define NAS_SERVER_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/util.h"
#include "proto/proto.h"
#include "server/experiment.h"
#include "store/store.h"

typedef struct nas_coord nas_coord;

/* Sends env to the peer with that routing id; returns 0 or a negative code.
 * The envelope is only valid during the call. */
typedef int (*nas_coord_send_fn)(void *ctx, const uint8_t *peer, size_t peer_len, nas_envelope *env);

/* Why frames were refused; each is counted and logged. */
typedef enum {
    NAS_BAD_DECODE = 0,  /* not a protobuf Envelope, or empty */
    NAS_BAD_SIZE,        /* over the frame limit, or a field too long */
    NAS_BAD_VERSION,     /* wrong protocol version */
    NAS_BAD_FIELD,       /* a value out of range, missing, or an unknown enum */
    NAS_BAD_ARCH,        /* an architecture that is invalid or outside the space */
    NAS_BAD_UNEXPECTED,  /* a body a worker must not send, or about a job it does not hold */
    NAS_BAD_COUNT
} nas_bad_kind;

typedef struct nas_coord_counts {
    int64_t train_done, train_failed, measure_done, infeasible, measure_failed;
    int64_t queued, leased;
    int64_t results_received, duplicates_dropped, requeued;
    int64_t workers;
    int64_t bad[NAS_BAD_COUNT];
} nas_coord_counts;

/* Creates the coordinator for exp on store (both borrowed, must outlive it):
 * records the experiment and resumes it if the store already holds it. */
int nas_coord_new(const nas_experiment *exp, nas_store *store, nas_coord_send_fn send, void *send_ctx,
                  nas_coord **out, nas_err *err);
void nas_coord_free(nas_coord **c);

/* Handles one frame from peer. Bad frames are counted, logged (rate-limited)
 * and dropped; nothing in data is trusted. Store errors are kept and
 * returned by the next nas_coord_tick. */
void nas_coord_on_frame(nas_coord *c, const uint8_t *peer, size_t peer_len, const void *data, size_t len);

/* Periodic work: expire leases, forget silent workers, ask the strategy to
 * keep the queue full, hand jobs to idle workers, commit the store and send
 * the acknowledgements that waited for the commit. Returns 0, or NAS_EDB
 * when the store failed (nasd then stops: it cannot promise exactly-once). */
int nas_coord_tick(nas_coord *c, nas_err *err);

/* True once the budget is spent or the strategy has nothing left; why says which. */
bool nas_coord_finished(const nas_coord *c, const char **why);

/* Tells every worker to stop (final: the experiment is over, exit) and
 * records the running time and state ("done" if finished, else "stopped"). */
int nas_coord_stop(nas_coord *c, nas_err *err);

void nas_coord_get_counts(const nas_coord *c, nas_coord_counts *out);

/* One progress line: done/running/queued/failed, results per second, ETA. */
void nas_coord_progress_line(nas_coord *c, nas_sb *out);

const char *nas_bad_kind_name(nas_bad_kind k);

#endif
