/*
 * search/strategy.h - the interface every search strategy implements.
 *
 * A strategy is pure computation: no sockets, no SQL, no clock. The
 * coordinator asks it for candidates, tells it results, and saves/loads its
 * state through the store. Strategies see the space through its [0,1]^D
 * encoding (space/space.h); LLR-NAS additionally attaches a recipe override to
 * its candidates (init_from, train_only) and waits between its phases.
 *
 * Lifetime and ownership (CZMQ style): nas_strategy_new / nas_strategy_free(&s).
 * Candidates returned by ask own their recipe_json; release each with
 * nas_candidate_release.
 */
#ifndef NAS_SEARCH_STRATEGY_H
#define NAS_SEARCH_STRATEGY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/error.h"
#include "space/arch.h"
#include "space/space.h"

typedef struct nas_strategy nas_strategy;

/* One proposal. */
typedef struct nas_candidate {
    nas_arch arch;
    char *recipe_json; /* NULL, or a JSON object merged over the experiment's recipe */
    char tag[64];      /* strategy's own label ("" or e.g. "llr:ft:3:bl:2"), echoed in tell */
} nas_candidate;

typedef enum {
    NAS_OBS_OK = 0,      /* trained and evaluated: objective valid */
    NAS_OBS_INFEASIBLE,  /* measured over the latency budget, not trained */
    NAS_OBS_FAILED       /* the job failed for good (after its retries) */
} nas_obs_status;

/* One result, as the coordinator tells it. */
typedef struct nas_observation {
    const nas_arch *arch;
    const char *tag;        /* the candidate's tag ("" if none) */
    nas_obs_status status;
    double objective;       /* top-1 accuracy in [0,1], maximised; valid when OK */
    double latency_ms;      /* latency at the constraint's batch; < 0 when unknown */
    const char *checkpoint; /* path of the trained checkpoint, or NULL */
    uint64_t arch_hash;     /* nas_arch_hash(arch) if the caller has it (nasd keeps it per job), else 0 */
} nas_observation;

/* Construction parameters. options may be NULL (all defaults); unknown option
 * keys are errors that carry file:line:column through cfg. */
typedef struct nas_strategy_params {
    const nas_space *space;     /* borrowed; must outlive the strategy */
    uint64_t seed;
    int budget;                 /* planned evaluations (0 = unknown) */
    const nas_cfg *cfg;         /* document holding options (for error positions) */
    const nas_cfg_node *options;/* the strategy's options map, or NULL */
} nas_strategy_params;

/* Names: "random", "evolution", "bo", "lamcts-bo", "llr". */
int nas_strategy_new(const char *name, const nas_strategy_params *params, nas_strategy **out,
                     nas_err *err);
void nas_strategy_free(nas_strategy **s);
const char *nas_strategy_name(const nas_strategy *s);

/* Proposes up to n new candidates into out[0..*n_out). Candidates are distinct
 * from every pending and every told architecture. *n_out may be less than n
 * (e.g. LLR waits for a phase to finish, or the space is exhausted).
 * out must have room for n entries; they are zeroed first. Every proposal is
 * pending from here on (until told): a candidate the caller drops without a
 * result stays pending for the strategy's life. */
int nas_strategy_ask(nas_strategy *s, int n, nas_candidate *out, int *n_out, nas_err *err);

/* Records a result of an earlier candidate (or of one replayed from the store). */
int nas_strategy_tell(nas_strategy *s, const nas_observation *obs, nas_err *err);

/* Marks an architecture as pending (used when rebuilding from the store after a
 * restart, for jobs queued or running), so it is not proposed again. */
int nas_strategy_note_pending(nas_strategy *s, const nas_candidate *c, nas_err *err);

/* True when the strategy will propose nothing more (LLR after its last phase). */
bool nas_strategy_finished(const nas_strategy *s);

/* Serialises the strategy's state (rng, observations it keeps, phase) as JSON;
 * load restores it so that the next proposals are identical. load needs a
 * strategy created with the same name, space, seed and options (it checks the
 * name and the dimensions, and LLR its plan). */
int nas_strategy_save(const nas_strategy *s, char **json_out, nas_err *err);
int nas_strategy_load(nas_strategy *s, const char *json, nas_err *err);

void nas_candidate_release(nas_candidate *c);

#endif
