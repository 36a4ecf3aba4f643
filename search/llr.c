/*
 * search/llr.c - LLR-NAS, the GENet paper's local linear regression NAS
 * (Lin et al. 2020, section 4.2), as a strategy driven by job tags.
 *
 * Phases (each a set of jobs in the store; the candidate tag names the job, so
 * a restarted coordinator that replays tells and note_pending resumes in the
 * middle of any phase, and the plan itself is regenerated from the seed):
 *   1. master   "llr:master": train the MasterNet (option `masternet`, a
 *               preset or file, which must lie in the space), keeping its
 *               checkpoint (recipe save_checkpoint).
 *   2. finetune "llr:ft:S:T:J": for every super-block S (a stage of the
 *               MasterNet that is not a plain conv and has depth > 0) and every
 *               block type T of it (a combination of the stage's non-depth,
 *               non-width fields the space lets vary: kind, kernel, ratio, ...;
 *               "we treat blocks of different kernel size k and bottleneck
 *               ratio r as different block types"), `variants` (N, default 9)
 *               networks that differ from the MasterNet in stage S only, with
 *               type T and random depth in [d-2, d+2] and width in [0.5c, 2c]
 *               (the paper's ranges, intersected with the space). Each job
 *               starts from the MasterNet checkpoint (recipe init_from) and
 *               trains stage S only (train_only [S]; also S+1 when the width
 *               changed, because S+1's first layer cannot keep its weights);
 *               `finetune_epochs` sets its epochs if given.
 *   3. final    "llr:final:R": per (super-block, type) the pseudo-gradient is
 *               fitted by least squares (nas_llr_fit; an intercept for types
 *               other than the MasterNet's, see llr.h), `samples` random
 *               structures (every super-block a random fitted type, depth and
 *               width in the ranges) are scored by the predicted accuracy
 *               A* + sum of g1 dd + g2 dc + b, and at each resolution R of
 *               `resolutions` (default: the MasterNet's) the best one within
 *               the latency budget is trained (`final_epochs` if given).
 * The strategy is finished when every final job is told.
 *
 * Latency prediction (the strategy has no clock or GPU): with
 * `latency_budget_ms`, latency is predicted from MACs (space/cost.h) by a
 * least-squares line fitted to every told latency (measure jobs of the
 * coordinator, infeasible ones included), or by proportion to one told
 * latency; without any told latency, or without a latency budget, the budget
 * is `macs_budget`, by default the MasterNet's own MACs (the paper designs the
 * MasterNet at the target latency).
 *
 * Failed or infeasible fine-tune jobs give no accuracy and are left out of
 * the regression; a failed MasterNet ends the search (nothing to fine-tune).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/jsonio.h"
#include "search/llr.h"
#include "search/strategy_impl.h"
#include "space/cost.h"

#define MAX_TYPE_DIMS 8
#define MAX_RESOLUTIONS 16
#define VARIANT_TRIES 200

enum { PHASE_MASTER = 0, PHASE_FINETUNE, PHASE_FINAL, PHASE_DONE };

typedef struct llr_job {
    nas_arch arch;
    char tag[64];
    int block, type;     /* fine-tune jobs: which super-block and type */
    int train_stage2;    /* second stage to train (-1 = none) */
    bool issued, told;
    nas_obs_status status;
    double accuracy;
} llr_job;

typedef struct llr_block {
    int stage;
    int depth_dim, width_dim;          /* encoding dims, -1 if fixed */
    int type_dims[MAX_TYPE_DIMS], n_type_dims;
    int n_types;
    double *type_x;                    /* n_types x n_type_dims: the cell centres */
    int master_type;
    double *coef;                      /* n_types x 3: g1, g2, b */
    bool *fitted;
} llr_block;

typedef struct llr_strategy {
    const nas_space *space;
    int dims;
    uint64_t seed;
    nas_arch master;
    double *master_x;
    int variants, samples;
    int resolutions[MAX_RESOLUTIONS], n_resolutions;
    double latency_budget_ms, macs_budget;
    long finetune_epochs, final_epochs;
    llr_block *blocks;
    int n_blocks;
    int phase;
    llr_job master_job;
    char *master_checkpoint;
    llr_job *ft;
    int n_ft;
    llr_job *finals;
    int n_finals;
    double *lat_macs, *lat_ms; /* told latencies */
    int n_lat, cap_lat;
    nas_rng rng;               /* selection sampling */
    double *x;                 /* scratch point */
} llr_strategy;

/* ---- regression -------------------------------------------------------- */

void nas_llr_fit(const double *dd, const double *dc, const double *y, int n, bool intercept,
                 double coef[3]) {
    int p = intercept ? 3 : 2;
    double A[3][4] = {{0}};
    for (int j = 0; j < n; j++) {
        double f[3] = {dd[j], dc[j], 1.0};
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < p; b++) A[a][b] += f[a] * f[b];
            A[a][3] += f[a] * y[j];
        }
    }
    for (int a = 0; a < p; a++) A[a][a] += 1e-9 * (A[a][a] > 0 ? A[a][a] : 1.0) + 1e-12;
    /* Gaussian elimination with partial pivoting on the p x p normal equations */
    for (int c = 0; c < p; c++) {
        int piv = c;
        for (int r = c + 1; r < p; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        for (int k = 0; k < 4; k++) {
            double t = A[c][k];
            A[c][k] = A[piv][k];
            A[piv][k] = t;
        }
        for (int r = c + 1; r < p; r++) {
            double m = A[r][c] / A[c][c];
            for (int k = c; k < 4; k++) A[r][k] -= m * A[c][k];
        }
    }
    double sol[3] = {0, 0, 0};
    for (int r = p - 1; r >= 0; r--) {
        double s = A[r][3];
        for (int k = r + 1; k < p; k++) s -= A[r][k] * sol[k];
        sol[r] = s / A[r][r];
    }
    coef[0] = sol[0];
    coef[1] = sol[1];
    coef[2] = intercept ? sol[2] : 0.0;
}

/* ---- plan ----------------------------------------------------------------- */

static void llr_destroy(void *self) {
    llr_strategy *l = self;
    if (!l) return;
    for (int b = 0; b < l->n_blocks; b++) {
        free(l->blocks[b].type_x);
        free(l->blocks[b].coef);
        free(l->blocks[b].fitted);
    }
    free(l->blocks);
    free(l->master_x);
    free(l->master_checkpoint);
    free(l->ft);
    free(l->finals);
    free(l->lat_macs);
    free(l->lat_ms);
    free(l->x);
    free(l);
}

/* Parses "stage<i>.<field>" into i and field; false otherwise. */
static bool dim_stage_field(const char *name, int *stage, char *field, size_t size) {
    int consumed = 0;
    if (sscanf(name, "stage%d.%n", stage, &consumed) != 1 || consumed == 0) return false;
    snprintf(field, size, "%s", name + consumed);
    return true;
}

static int plan_blocks(llr_strategy *l, nas_err *err) {
    l->blocks = calloc((size_t)l->master.n_stages, sizeof *l->blocks);
    if (!l->blocks) return nas_err_set(err, NAS_ENOMEM, "out of memory planning LLR-NAS");
    for (int s = 0; s < l->master.n_stages; s++) {
        const nas_stage *st = &l->master.stages[s];
        if (st->kind == NAS_BLOCK_CONV || st->depth == 0) continue;
        llr_block *b = &l->blocks[l->n_blocks];
        b->stage = s;
        b->depth_dim = b->width_dim = -1;
        for (int d = 0; d < l->dims; d++) {
            int stage;
            char field[32];
            if (!dim_stage_field(nas_space_dim_name(l->space, d), &stage, field, sizeof field) ||
                stage != s)
                continue;
            if (strcmp(field, "depth") == 0)
                b->depth_dim = d;
            else if (strcmp(field, "width") == 0)
                b->width_dim = d;
            else if (b->n_type_dims < MAX_TYPE_DIMS)
                b->type_dims[b->n_type_dims++] = d;
            else
                return nas_err_set(err, NAS_EINVAL,
                                   "llr: stage %d varies more than %d type fields; fix some in the "
                                   "space",
                                   s, MAX_TYPE_DIMS);
        }
        if (b->depth_dim < 0 && b->width_dim < 0 && b->n_type_dims == 0) continue; /* fixed */
        b->n_types = 1;
        for (int k = 0; k < b->n_type_dims; k++) {
            b->n_types *= nas_space_dim_choices(l->space, b->type_dims[k]);
            if (b->n_types > 4096)
                return nas_err_set(err, NAS_EINVAL,
                                   "llr: stage %d has more than 4096 block types; fix some fields",
                                   s);
        }
        b->type_x = malloc(sizeof(double) * (size_t)b->n_types * (MAX_TYPE_DIMS));
        b->coef = calloc((size_t)b->n_types * 3, sizeof(double));
        b->fitted = calloc((size_t)b->n_types, sizeof(bool));
        if (!b->type_x || !b->coef || !b->fitted)
            return nas_err_set(err, NAS_ENOMEM, "out of memory planning LLR-NAS");
        b->master_type = 0;
        for (int t = 0; t < b->n_types; t++) {
            int rest = t;
            bool is_master = true;
            for (int k = 0; k < b->n_type_dims; k++) {
                int n = nas_space_dim_choices(l->space, b->type_dims[k]);
                double centre = ((rest % n) + 0.5) / n;
                rest /= n;
                b->type_x[t * MAX_TYPE_DIMS + k] = centre;
                is_master &= fabs(centre - l->master_x[b->type_dims[k]]) < 1e-12;
            }
            if (is_master) b->master_type = t;
        }
        l->n_blocks++;
    }
    if (l->n_blocks == 0)
        return nas_err_set(err, NAS_EINVAL,
                           "llr: the MasterNet has no super-block the space lets vary (only conv "
                           "stages or fixed fields)");
    return 0;
}

static void set_type(const llr_strategy *l, const llr_block *b, int t, double *x) {
    for (int k = 0; k < b->n_type_dims; k++) x[b->type_dims[k]] = b->type_x[t * MAX_TYPE_DIMS + k];
}

/* Depth in [d-2, d+2] and width in [0.5c, 2c] of the MasterNet's stage. */
static bool in_paper_ranges(const llr_strategy *l, const llr_block *b, const nas_arch *a) {
    const nas_stage *m = &l->master.stages[b->stage], *s = &a->stages[b->stage];
    return s->depth >= m->depth - 2 && s->depth <= m->depth + 2 && s->depth >= 1 &&
           2 * s->width >= m->width && s->width <= 2 * m->width;
}

/* Random depth and width for block b in x (type dims untouched). */
static void random_depth_width(const llr_block *b, nas_rng *rng, double *x) {
    if (b->depth_dim >= 0) x[b->depth_dim] = nas_rng_uniform(rng);
    if (b->width_dim >= 0) x[b->width_dim] = nas_rng_uniform(rng);
}

static bool planned_already(const llr_strategy *l, uint64_t h, int upto) {
    if (h == nas_arch_hash(&l->master)) return true;
    for (int i = 0; i < upto; i++)
        if (nas_arch_hash(&l->ft[i].arch) == h) return true;
    return false;
}

static int plan_finetune(llr_strategy *l, nas_err *err) {
    int total = 0;
    for (int b = 0; b < l->n_blocks; b++) total += l->blocks[b].n_types * l->variants;
    l->ft = calloc((size_t)(total > 0 ? total : 1), sizeof *l->ft);
    if (!l->ft) return nas_err_set(err, NAS_ENOMEM, "out of memory planning LLR-NAS");
    nas_rng rng;
    nas_rng_seed(&rng, nas_mix64(l->seed ^ 0x6c6c722d6674ULL)); /* the plan depends on the seed only */
    for (int bi = 0; bi < l->n_blocks; bi++) {
        const llr_block *b = &l->blocks[bi];
        for (int t = 0; t < b->n_types; t++) {
            for (int j = 0; j < l->variants; j++) {
                llr_job *job = &l->ft[l->n_ft];
                bool ok = false;
                for (int tries = 0; tries < VARIANT_TRIES && !ok; tries++) {
                    memcpy(l->x, l->master_x, sizeof(double) * (size_t)l->dims);
                    set_type(l, b, t, l->x);
                    random_depth_width(b, &rng, l->x);
                    nas_space_decode(l->space, l->x, &job->arch);
                    ok = in_paper_ranges(l, b, &job->arch) &&
                         !planned_already(l, nas_arch_hash(&job->arch), l->n_ft);
                }
                if (!ok) continue; /* this type has fewer distinct variants than asked */
                const nas_stage *ms = &l->master.stages[b->stage];
                job->block = bi;
                job->type = t;
                job->train_stage2 = job->arch.stages[b->stage].width != ms->width &&
                                            b->stage + 1 < l->master.n_stages
                                        ? b->stage + 1
                                        : -1;
                snprintf(job->tag, sizeof job->tag, "llr:ft:%d:%d:%d", b->stage, t, j);
                l->n_ft++;
            }
        }
    }
    return 0;
}

static int llr_create(const char *name, const nas_strategy_params *p, void **self, nas_err *err) {
    static const char *const keys[] = {"masternet",       "variants",        "samples",
                                       "resolutions",     "latency_budget_ms", "macs_budget",
                                       "finetune_epochs", "final_epochs",    NULL};
    (void)name;
    const nas_cfg *cfg = p->cfg;
    const nas_cfg_node *o = p->options;
    if (!o)
        return nas_err_set(err, NAS_EINVAL,
                           "strategy 'llr' needs options with 'masternet' (a preset name or file)");
    llr_strategy *l = calloc(1, sizeof *l);
    if (!l) return nas_err_set(err, NAS_ENOMEM, "out of memory creating LLR-NAS");
    l->space = p->space;
    l->dims = nas_space_dims(p->space);
    l->seed = p->seed;
    nas_rng_seed(&l->rng, nas_mix64(p->seed ^ 0x6c6c722d73656cULL));
    const char *master_name;
    long variants, samples;
    int rc;
    if ((rc = nas_cfg_check_keys(cfg, o, keys, "llr options", err)) ||
        (rc = nas_cfg_get_string(cfg, o, "masternet", true, NULL, &master_name, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "variants", false, 9, 1, 1000, &variants, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "samples", false, 10000, 1, 10000000, &samples, err)) ||
        (rc = nas_cfg_get_double(cfg, o, "latency_budget_ms", false, 0, 0, 1e9,
                                 &l->latency_budget_ms, err)) ||
        (rc = nas_cfg_get_double(cfg, o, "macs_budget", false, 0, 0, 1e18, &l->macs_budget, err)) ||
        (rc = nas_cfg_get_int(cfg, o, "finetune_epochs", false, 0, 0, 100000, &l->finetune_epochs,
                              err)) ||
        (rc = nas_cfg_get_int(cfg, o, "final_epochs", false, 0, 0, 100000, &l->final_epochs, err)))
        goto fail;
    l->variants = (int)variants;
    l->samples = (int)samples;
    if ((rc = nas_arch_load(master_name, &l->master, err))) {
        nas_err_prefix(err, "llr: masternet");
        goto fail;
    }
    nas_arch_canonicalize(&l->master); /* so it compares equal to decoded archs */
    if ((rc = nas_space_contains(p->space, &l->master, err))) {
        nas_err_prefix(err, "llr: the MasterNet '%s' must lie in the experiment's space",
                       master_name);
        goto fail;
    }
    const nas_cfg_node *res = nas_cfg_get(o, "resolutions");
    if (res) {
        if ((rc = nas_cfg_expect(cfg, res, NAS_CFG_SEQ, "llr resolutions", err))) goto fail;
        if (res->n == 0 || res->n > MAX_RESOLUTIONS) {
            rc = nas_cfg_error(cfg, res, err, NAS_EINVAL, "llr resolutions: give 1 to %d values",
                               MAX_RESOLUTIONS);
            goto fail;
        }
        for (size_t i = 0; i < res->n; i++) {
            long r;
            if ((rc = nas_cfg_node_int(cfg, res->items[i], "resolution", 8, NAS_ARCH_MAX_RESOLUTION,
                                       &r, err)))
                goto fail;
            nas_arch probe = l->master;
            probe.resolution = (int)r;
            if (nas_space_contains(p->space, &probe, NULL)) {
                rc = nas_cfg_error(cfg, res->items[i], err, NAS_EINVAL,
                                   "llr resolutions: %ld is not allowed by the space", r);
                goto fail;
            }
            l->resolutions[l->n_resolutions++] = (int)r;
        }
    } else {
        l->resolutions[l->n_resolutions++] = l->master.resolution;
    }
    if (l->macs_budget <= 0) {
        nas_cost cost;
        if ((rc = nas_cost_compute(&l->master, 0, &cost, err))) goto fail;
        l->macs_budget = (double)cost.macs;
        nas_cost_release(&cost);
    }
    l->master_x = malloc(sizeof(double) * (size_t)l->dims);
    l->x = malloc(sizeof(double) * (size_t)l->dims);
    if (!l->master_x || !l->x) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory creating LLR-NAS");
        goto fail;
    }
    if ((rc = nas_space_encode(p->space, &l->master, l->master_x, err))) goto fail;
    if ((rc = plan_blocks(l, err)) || (rc = plan_finetune(l, err))) goto fail;
    l->master_job.arch = l->master;
    snprintf(l->master_job.tag, sizeof l->master_job.tag, "llr:master");
    l->phase = PHASE_MASTER;
    *self = l;
    return 0;
fail:
    llr_destroy(l);
    return rc;
}

/* ---- latency model and selection ---------------------------------------- */

static double arch_macs(const nas_arch *a) {
    nas_cost cost;
    if (nas_cost_compute(a, 0, &cost, NULL)) return INFINITY;
    double macs = (double)cost.macs;
    nas_cost_release(&cost);
    return macs;
}

/* Feasibility test built once per selection: latency = a + b * MACs <= budget. */
typedef struct latency_model {
    bool by_latency;
    double a, b;
} latency_model;

static latency_model fit_latency(const llr_strategy *l) {
    latency_model m = {.by_latency = false};
    if (l->latency_budget_ms <= 0 || l->n_lat == 0) return m;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = l->n_lat;
    for (int i = 0; i < l->n_lat; i++) {
        sx += l->lat_macs[i];
        sy += l->lat_ms[i];
        sxx += l->lat_macs[i] * l->lat_macs[i];
        sxy += l->lat_macs[i] * l->lat_ms[i];
    }
    double den = n * sxx - sx * sx;
    m.by_latency = true;
    if (l->n_lat >= 2 && den > 1e-12 * n * sxx) {
        m.b = (n * sxy - sx * sy) / den;
        m.a = (sy - m.b * sx) / n;
        if (m.b > 0) return m;
    }
    m.a = 0; /* proportional through the origin */
    m.b = sxx > 0 ? sxy / sxx : 0;
    if (!(m.b > 0)) m.by_latency = false;
    return m;
}

static bool feasible(const llr_strategy *l, const latency_model *m, double macs) {
    if (m->by_latency) return m->a + m->b * macs <= l->latency_budget_ms;
    return macs <= l->macs_budget;
}

static void fit_blocks(llr_strategy *l) {
    int cap = l->n_ft > 0 ? l->n_ft : 1;
    double *dd = malloc(sizeof(double) * (size_t)cap * 3);
    if (!dd) return; /* nothing fitted: selection falls back to the MasterNet's types */
    double *dc = dd + cap, *y = dd + 2 * cap;
    for (int bi = 0; bi < l->n_blocks; bi++) {
        llr_block *b = &l->blocks[bi];
        const nas_stage *ms = &l->master.stages[b->stage];
        for (int t = 0; t < b->n_types; t++) {
            int n = 0;
            for (int j = 0; j < l->n_ft; j++) {
                const llr_job *job = &l->ft[j];
                if (job->block != bi || job->type != t || !job->told || job->status != NAS_OBS_OK)
                    continue;
                dd[n] = job->arch.stages[b->stage].depth - ms->depth;
                dc[n] = job->arch.stages[b->stage].width - ms->width;
                y[n] = job->accuracy - l->master_job.accuracy;
                n++;
            }
            bool intercept = t != b->master_type;
            b->fitted[t] = n > 0 || !intercept; /* the MasterNet's type: at worst g = 0 */
            if (n > 0) nas_llr_fit(dd, dc, y, n, intercept, &b->coef[t * 3]);
        }
    }
    free(dd);
}

static double predict_accuracy(const llr_strategy *l, const nas_arch *a, const int *types) {
    double acc = l->master_job.accuracy;
    for (int bi = 0; bi < l->n_blocks; bi++) {
        const llr_block *b = &l->blocks[bi];
        const double *c = &b->coef[types[bi] * 3];
        const nas_stage *ms = &l->master.stages[b->stage], *s = &a->stages[b->stage];
        acc += c[0] * (s->depth - ms->depth) + c[1] * (s->width - ms->width) + c[2];
    }
    return acc;
}

static bool known_arch(const llr_strategy *l, uint64_t h) {
    if (h == nas_arch_hash(&l->master)) return true;
    for (int i = 0; i < l->n_ft; i++)
        if (nas_arch_hash(&l->ft[i].arch) == h) return true;
    for (int i = 0; i < l->n_finals; i++)
        if (nas_arch_hash(&l->finals[i].arch) == h) return true;
    return false;
}

static int plan_finals(llr_strategy *l, nas_err *err) {
    fit_blocks(l);
    latency_model lm = fit_latency(l);
    free(l->finals);
    l->n_finals = 0;
    l->finals = calloc((size_t)l->n_resolutions, sizeof *l->finals);
    int *types = malloc(sizeof(int) * (size_t)l->n_blocks);
    int *fitted_types = malloc(sizeof(int) * 4096);
    double *best_acc = malloc(sizeof(double) * (size_t)l->n_resolutions);
    nas_arch *best = malloc(sizeof(nas_arch) * (size_t)l->n_resolutions);
    if (!l->finals || !types || !fitted_types || !best_acc || !best) {
        free(types), free(fitted_types), free(best_acc), free(best);
        return nas_err_set(err, NAS_ENOMEM, "out of memory selecting LLR-NAS structures");
    }
    for (int r = 0; r < l->n_resolutions; r++) best_acc[r] = -INFINITY;
    for (int s = 0; s < l->samples; s++) {
        memcpy(l->x, l->master_x, sizeof(double) * (size_t)l->dims);
        for (int bi = 0; bi < l->n_blocks; bi++) {
            const llr_block *b = &l->blocks[bi];
            int nf = 0;
            for (int t = 0; t < b->n_types; t++)
                if (b->fitted[t]) fitted_types[nf++] = t;
            types[bi] = nf ? fitted_types[nas_rng_below(&l->rng, (uint64_t)nf)] : b->master_type;
            set_type(l, b, types[bi], l->x);
            random_depth_width(b, &l->rng, l->x);
        }
        nas_arch a;
        nas_space_decode(l->space, l->x, &a);
        bool ranges = true;
        for (int bi = 0; bi < l->n_blocks && ranges; bi++) ranges = in_paper_ranges(l, &l->blocks[bi], &a);
        if (!ranges) continue;
        double acc = predict_accuracy(l, &a, types);
        for (int r = 0; r < l->n_resolutions; r++) {
            if (acc <= best_acc[r]) continue;
            a.resolution = l->resolutions[r];
            if (!feasible(l, &lm, arch_macs(&a))) continue;
            best_acc[r] = acc;
            best[r] = a;
        }
    }
    for (int r = 0; r < l->n_resolutions; r++) {
        if (!isfinite(best_acc[r])) continue; /* nothing within the budget at this resolution */
        uint64_t h = nas_arch_hash(&best[r]);
        if (known_arch(l, h)) continue; /* already trained (e.g. the MasterNet itself) */
        llr_job *job = &l->finals[l->n_finals++];
        job->arch = best[r];
        job->block = job->type = job->train_stage2 = -1;
        snprintf(job->tag, sizeof job->tag, "llr:final:%d", l->resolutions[r]);
    }
    free(types), free(fitted_types), free(best_acc), free(best);
    return 0;
}

/* ---- ask / tell ---------------------------------------------------------- */

static bool all_told(const llr_job *jobs, int n) {
    for (int i = 0; i < n; i++)
        if (!jobs[i].told) return false;
    return true;
}

/* Moves through phases whose jobs are all told. */
static int advance(llr_strategy *l, nas_err *err) {
    if (l->phase == PHASE_MASTER && l->master_job.told)
        l->phase = l->master_job.status == NAS_OBS_OK ? PHASE_FINETUNE : PHASE_DONE;
    if (l->phase == PHASE_FINETUNE && all_told(l->ft, l->n_ft)) {
        int rc = plan_finals(l, err);
        if (rc) return rc;
        l->phase = PHASE_FINAL;
    }
    if (l->phase == PHASE_FINAL && all_told(l->finals, l->n_finals)) l->phase = PHASE_DONE;
    return 0;
}

static char *finetune_recipe(const llr_strategy *l, const llr_job *job) {
    cJSON *r = cJSON_CreateObject();
    cJSON *stages = r ? cJSON_AddArrayToObject(r, "train_only") : NULL;
    if (!stages || !cJSON_AddStringToObject(r, "init_from", l->master_checkpoint ? l->master_checkpoint : "")) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddItemToArray(stages, cJSON_CreateNumber(l->blocks[job->block].stage));
    if (job->train_stage2 >= 0) cJSON_AddItemToArray(stages, cJSON_CreateNumber(job->train_stage2));
    if (l->finetune_epochs > 0) cJSON_AddNumberToObject(r, "epochs", (double)l->finetune_epochs);
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

static int issue(const llr_strategy *l, llr_job *job, nas_candidate *c, nas_err *err) {
    c->arch = job->arch;
    snprintf(c->tag, sizeof c->tag, "%s", job->tag);
    c->recipe_json = NULL;
    if (job == &l->master_job) {
        c->recipe_json = strdup("{\"save_checkpoint\":true}");
    } else if (job->block >= 0) {
        c->recipe_json = finetune_recipe(l, job);
    } else if (l->final_epochs > 0) {
        char text[64];
        snprintf(text, sizeof text, "{\"epochs\":%ld}", l->final_epochs);
        c->recipe_json = strdup(text);
    }
    bool wants_recipe = job == &l->master_job || job->block >= 0 || l->final_epochs > 0;
    if (wants_recipe && !c->recipe_json)
        return nas_err_set(err, NAS_ENOMEM, "out of memory writing an LLR-NAS recipe");
    job->issued = true;
    return 0;
}

static int llr_ask(void *self, int n, nas_candidate *out, int *n_out, nas_err *err) {
    llr_strategy *l = self;
    int rc = advance(l, err);
    if (rc) return rc;
    llr_job *jobs = l->phase == PHASE_MASTER     ? &l->master_job
                    : l->phase == PHASE_FINETUNE ? l->ft
                    : l->phase == PHASE_FINAL    ? l->finals
                                                 : NULL;
    int count = l->phase == PHASE_MASTER     ? 1
                : l->phase == PHASE_FINETUNE ? l->n_ft
                : l->phase == PHASE_FINAL    ? l->n_finals
                                             : 0;
    for (int i = 0; i < count && *n_out < n; i++) {
        if (jobs[i].issued || jobs[i].told) continue;
        if ((rc = issue(l, &jobs[i], &out[*n_out], err))) return rc;
        (*n_out)++;
    }
    return 0;
}

static llr_job *find_job(llr_strategy *l, const char *tag) {
    if (!tag || !*tag) return NULL;
    if (strcmp(tag, l->master_job.tag) == 0) return &l->master_job;
    for (int i = 0; i < l->n_ft; i++)
        if (strcmp(tag, l->ft[i].tag) == 0) return &l->ft[i];
    for (int i = 0; i < l->n_finals; i++)
        if (strcmp(tag, l->finals[i].tag) == 0) return &l->finals[i];
    return NULL;
}

static int record_latency(llr_strategy *l, const nas_arch *a, double latency_ms, nas_err *err) {
    if (!(latency_ms >= 0) || !isfinite(latency_ms)) return 0;
    double macs = arch_macs(a);
    if (!isfinite(macs)) return 0;
    if (l->n_lat == l->cap_lat) {
        int cap = l->cap_lat ? 2 * l->cap_lat : 32;
        double *m = realloc(l->lat_macs, sizeof(double) * (size_t)cap);
        if (m) l->lat_macs = m;
        double *ms = realloc(l->lat_ms, sizeof(double) * (size_t)cap);
        if (ms) l->lat_ms = ms;
        if (!m || !ms) return nas_err_set(err, NAS_ENOMEM, "out of memory recording a latency");
        l->cap_lat = cap;
    }
    l->lat_macs[l->n_lat] = macs;
    l->lat_ms[l->n_lat] = latency_ms;
    l->n_lat++;
    return 0;
}

static int llr_tell(void *self, const nas_observation *obs, nas_err *err) {
    llr_strategy *l = self;
    int rc = record_latency(l, obs->arch, obs->latency_ms, err);
    if (rc) return rc;
    llr_job *job = find_job(l, obs->tag);
    if (!job) return 0; /* not one of ours (e.g. a user's extra job): only its latency is used */
    if (!nas_arch_equal(&job->arch, obs->arch))
        return nas_err_set(err, NAS_EINVAL,
                           "llr: the result tagged '%s' is for another architecture than the one "
                           "planned; was the seed or the MasterNet changed?",
                           obs->tag);
    if (obs->status == NAS_OBS_OK && !isfinite(obs->objective))
        return nas_err_set(err, NAS_EINVAL, "llr: objective of '%s' is not finite", obs->tag);
    job->told = true;
    job->issued = true;
    job->status = obs->status;
    job->accuracy = obs->objective;
    if (job == &l->master_job && obs->status == NAS_OBS_OK) {
        free(l->master_checkpoint);
        l->master_checkpoint = obs->checkpoint ? strdup(obs->checkpoint) : NULL;
        if (obs->checkpoint && !l->master_checkpoint)
            return nas_err_set(err, NAS_ENOMEM, "out of memory keeping the MasterNet checkpoint");
    }
    return advance(l, err);
}

static int llr_note_pending(void *self, const nas_candidate *c, nas_err *err) {
    llr_strategy *l = self;
    int rc = advance(l, err);
    if (rc) return rc;
    llr_job *job = find_job(l, c->tag);
    if (job) job->issued = true;
    return 0;
}

static bool llr_finished(const void *self) { return ((const llr_strategy *)self)->phase == PHASE_DONE; }

/* ---- state ------------------------------------------------------------------ */

static cJSON *jobs_state(const llr_job *jobs, int n, bool with_arch) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) goto fail;
        cJSON_AddItemToArray(arr, o);
        char *arch = with_arch ? nas_arch_to_json(&jobs[i].arch) : NULL;
        bool ok = cJSON_AddStringToObject(o, "tag", jobs[i].tag) &&
                  cJSON_AddBoolToObject(o, "issued", jobs[i].issued) &&
                  cJSON_AddBoolToObject(o, "told", jobs[i].told) &&
                  cJSON_AddNumberToObject(o, "status", jobs[i].status) &&
                  nas_json_add_double(o, "accuracy", jobs[i].accuracy) &&
                  (!with_arch || (arch && cJSON_AddRawToObject(o, "arch", arch)));
        free(arch);
        if (!ok) goto fail;
    }
    return arr;
fail:
    cJSON_Delete(arr);
    return NULL;
}

static int llr_save(const void *self, cJSON *st, nas_err *err) {
    const llr_strategy *l = self;
    cJSON *master = jobs_state(&l->master_job, 1, false);
    cJSON *ft = jobs_state(l->ft, l->n_ft, false);
    cJSON *finals = jobs_state(l->finals, l->n_finals, true);
    if (!master || !ft || !finals) {
        cJSON_Delete(master), cJSON_Delete(ft), cJSON_Delete(finals);
        return nas_err_set(err, NAS_ENOMEM, "out of memory saving LLR-NAS state");
    }
    cJSON_AddItemToObject(st, "master", master);
    cJSON_AddItemToObject(st, "finetune", ft);
    cJSON_AddItemToObject(st, "final", finals);
    bool ok = cJSON_AddNumberToObject(st, "phase", l->phase) &&
              (l->master_checkpoint ? cJSON_AddStringToObject(st, "checkpoint", l->master_checkpoint)
                                    : cJSON_AddNullToObject(st, "checkpoint")) &&
              nas_json_add_doubles(st, "latency_macs", l->lat_macs, l->n_lat) &&
              nas_json_add_doubles(st, "latency_ms", l->lat_ms, l->n_lat) &&
              nas_json_add_rng(st, "rng", &l->rng);
    return ok ? 0 : nas_err_set(err, NAS_ENOMEM, "out of memory saving LLR-NAS state");
}

static int load_jobs(const cJSON *arr, llr_job *jobs, int n, bool with_arch, nas_err *err) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return nas_err_set(err, NAS_EINVAL,
                           "llr state: %d planned jobs expected; the state was saved with another "
                           "seed, MasterNet or options",
                           n);
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *tag = cJSON_GetObjectItemCaseSensitive(o, "tag");
        const cJSON *issued = cJSON_GetObjectItemCaseSensitive(o, "issued");
        const cJSON *told = cJSON_GetObjectItemCaseSensitive(o, "told");
        int status, rc;
        double acc;
        if (!cJSON_IsString(tag) || !cJSON_IsBool(issued) || !cJSON_IsBool(told) ||
            (rc = nas_json_get_int(o, "status", &status, err)) ||
            (rc = nas_json_get_double(o, "accuracy", &acc, err)))
            return nas_err_set(err, NAS_EPARSE, "llr state: job %d is malformed", i);
        if (with_arch) {
            const cJSON *arch = cJSON_GetObjectItemCaseSensitive(o, "arch");
            char *text = arch ? cJSON_PrintUnformatted(arch) : NULL;
            rc = text ? nas_arch_from_json(text, &jobs[i].arch, err)
                      : nas_err_set(err, NAS_EPARSE, "llr state: final job %d has no arch", i);
            free(text);
            if (rc) return rc;
            snprintf(jobs[i].tag, sizeof jobs[i].tag, "%s", tag->valuestring);
            jobs[i].block = jobs[i].type = jobs[i].train_stage2 = -1;
        } else if (strcmp(tag->valuestring, jobs[i].tag) != 0) {
            return nas_err_set(err, NAS_EINVAL,
                               "llr state: job %d is '%s' but the plan says '%s' (another seed?)", i,
                               tag->valuestring, jobs[i].tag);
        }
        jobs[i].issued = cJSON_IsTrue(issued);
        jobs[i].told = cJSON_IsTrue(told);
        jobs[i].status = (nas_obs_status)status;
        jobs[i].accuracy = acc;
        i++;
    }
    return 0;
}

static int llr_load(void *self, const cJSON *st, nas_err *err) {
    llr_strategy *l = self;
    int phase, rc, n_lat, n_finals;
    if ((rc = nas_json_get_int(st, "phase", &phase, err)) ||
        (rc = nas_json_get_array_len(st, "latency_ms", &n_lat, err)) ||
        (rc = nas_json_get_array_len(st, "final", &n_finals, err)))
        return rc;
    if (phase < PHASE_MASTER || phase > PHASE_DONE || n_finals > l->n_resolutions)
        return nas_err_set(err, NAS_EPARSE, "llr state: bad phase or final jobs");
    double *macs = malloc(sizeof(double) * (size_t)(n_lat + 1));
    double *ms = malloc(sizeof(double) * (size_t)(n_lat + 1));
    llr_job *finals = calloc((size_t)l->n_resolutions, sizeof *finals);
    llr_job master = l->master_job;
    char *checkpoint = NULL;
    if (!macs || !ms || !finals) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory loading LLR-NAS state");
        goto fail;
    }
    const cJSON *ckpt = cJSON_GetObjectItemCaseSensitive(st, "checkpoint");
    if (cJSON_IsString(ckpt) && !(checkpoint = strdup(ckpt->valuestring))) {
        rc = nas_err_set(err, NAS_ENOMEM, "out of memory loading LLR-NAS state");
        goto fail;
    }
    nas_rng rng;
    if ((rc = nas_json_get_doubles(st, "latency_macs", macs, n_lat, err)) ||
        (rc = nas_json_get_doubles(st, "latency_ms", ms, n_lat, err)) ||
        (rc = nas_json_get_rng(st, "rng", &rng, err)) ||
        (rc = load_jobs(cJSON_GetObjectItemCaseSensitive(st, "master"), &master, 1, false, err)) ||
        (rc = load_jobs(cJSON_GetObjectItemCaseSensitive(st, "final"), finals, n_finals, true, err)) ||
        (rc = load_jobs(cJSON_GetObjectItemCaseSensitive(st, "finetune"), l->ft, l->n_ft, false, err)))
        goto fail;
    l->master_job = master;
    free(l->finals);
    l->finals = finals;
    l->n_finals = n_finals;
    finals = NULL;
    free(l->master_checkpoint);
    l->master_checkpoint = checkpoint;
    checkpoint = NULL;
    free(l->lat_macs);
    free(l->lat_ms);
    l->lat_macs = macs;
    l->lat_ms = ms;
    l->n_lat = l->cap_lat = n_lat;
    macs = ms = NULL;
    l->rng = rng;
    l->phase = phase;
    if (phase >= PHASE_FINAL) fit_blocks(l); /* coefficients are derived data */
fail:
    free(macs), free(ms), free(finals), free(checkpoint);
    return rc;
}

const nas_strategy_impl nas_strategy_llr_impl = {llr_create,   llr_ask,      llr_tell,
                                                 llr_note_pending, llr_finished, llr_save,
                                                 llr_load,     llr_destroy};
