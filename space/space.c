/*
 * space/space.c - search spaces read from YAML, and the [0,1]^D encoding.
 *
 * A space is a template architecture whose fields each carry a set of allowed
 * values. Every field with two or more values is one dimension; value i of k
 * owns the cell [i/k, (i+1)/k), decoding takes the cell a coordinate falls in
 * (clamped) and encoding returns the cell centre, so decode(encode(a)) == a.
 *
 * Two rules keep "decode always yields a valid architecture" true:
 *  - load-time lint: combinations that could never validate are rejected with
 *    the file position (SE or timm padding on kinds that lack them, conv mixed
 *    with other kinds); then the all-first, all-last and 256 seeded random
 *    points are decoded and validated, so a space whose corner (say, too many
 *    strides for its smallest resolution) is invalid fails at load, not in the
 *    middle of a search;
 *  - absent stages (depth 0) decode to one canonical form: the space's first
 *    kind and nas_arch_canonicalize's pinned fields, and encode ignores their
 *    other fields, so two descriptions of the same network map to one point.
 */
#include "space/space.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/util.h"

enum {
    F_KIND = 0,
    F_DEPTH,
    F_WIDTH,
    F_STRIDE,
    F_KERNEL,
    F_RATIO,
    F_ACT,
    F_SE,
    F_PAD,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {"kind",   "depth", "width", "stride", "kernel",
                                                 "ratio",  "act",   "se",    "pad"};

#define SPACE_MAX_CHOICES 1024
#define SPACE_LINT_SAMPLES 256
#define DIM_NAME_MAX 32

/* Allowed values of one field (enums as their index, bools as 0/1). */
typedef struct choices {
    int n;
    double *v;
    bool was_range; /* written as {min, max, step}: messages print it that way */
} choices;

typedef struct space_dim {
    int stage; /* -1: resolution */
    int field;
    char name[DIM_NAME_MAX];
} space_dim;

struct nas_space {
    char *name;
    nas_arch base; /* in_channels, classes, bn_eps, dropout, n_stages */
    choices resolution;
    choices fields[NAS_ARCH_MAX_STAGES][F_COUNT];
    int n_dims;
    space_dim dims[NAS_SPACE_MAX_DIMS];
};

static void choices_free(choices *c) {
    free(c->v);
    memset(c, 0, sizeof *c);
}

void nas_space_free(nas_space **space) {
    if (!space || !*space) return;
    nas_space *s = *space;
    free(s->name);
    choices_free(&s->resolution);
    for (int i = 0; i < NAS_ARCH_MAX_STAGES; i++)
        for (int f = 0; f < F_COUNT; f++) choices_free(&s->fields[i][f]);
    free(s);
    *space = NULL;
}

const char *nas_space_name(const nas_space *space) { return space->name; }
int nas_space_dims(const nas_space *space) { return space->n_dims; }

const char *nas_space_dim_name(const nas_space *space, int d) {
    assert(d >= 0 && d < space->n_dims);
    return space->dims[d].name;
}

static const choices *dim_choices(const nas_space *space, int d) {
    const space_dim *dim = &space->dims[d];
    return dim->stage < 0 ? &space->resolution : &space->fields[dim->stage][dim->field];
}

int nas_space_dim_choices(const nas_space *space, int d) {
    assert(d >= 0 && d < space->n_dims);
    return dim_choices(space, d)->n;
}

/* ---- reading the YAML ------------------------------------------------- */

typedef enum { VAL_INT, VAL_DOUBLE, VAL_ENUM, VAL_BOOL } value_type;

typedef struct field_spec {
    value_type type;
    double min, max;          /* VAL_INT / VAL_DOUBLE */
    const char *const *names; /* VAL_ENUM */
} field_spec;

static field_spec spec_of(int field) {
    switch (field) {
    case F_KIND: return (field_spec){VAL_ENUM, 0, 0, nas_block_kind_names};
    case F_DEPTH: return (field_spec){VAL_INT, 0, NAS_ARCH_MAX_DEPTH, NULL};
    case F_WIDTH: return (field_spec){VAL_INT, 1, NAS_ARCH_MAX_WIDTH, NULL};
    case F_STRIDE: return (field_spec){VAL_INT, 1, 2, NULL};
    case F_KERNEL: return (field_spec){VAL_INT, 1, 15, NULL};
    case F_RATIO: return (field_spec){VAL_DOUBLE, 1e-6, 16.0, NULL};
    case F_ACT: return (field_spec){VAL_ENUM, 0, 0, nas_act_names};
    case F_SE: return (field_spec){VAL_BOOL, 0, 0, NULL};
    case F_PAD: return (field_spec){VAL_ENUM, 0, 0, nas_pad_names};
    default: assert(!"field"); return (field_spec){VAL_INT, 0, 0, NULL};
    }
}

static int scalar_value(const nas_cfg *cfg, const nas_cfg_node *node, const field_spec *spec,
                        const char *what, bool odd_only, double *out, nas_err *err) {
    int rc;
    switch (spec->type) {
    case VAL_INT: {
        long v;
        if ((rc = nas_cfg_node_int(cfg, node, what, (long)spec->min, (long)spec->max, &v, err)))
            return rc;
        if (odd_only && v % 2 == 0)
            return nas_cfg_error(cfg, node, err, NAS_EINVAL,
                                 "%s: %ld is even; kernels must be odd (padding is symmetric)", what,
                                 v);
        *out = (double)v;
        return 0;
    }
    case VAL_DOUBLE: return nas_cfg_node_double(cfg, node, what, spec->min, spec->max, out, err);
    case VAL_ENUM: {
        int v;
        if ((rc = nas_cfg_node_enum(cfg, node, what, spec->names, &v, err))) return rc;
        *out = v;
        return 0;
    }
    case VAL_BOOL: {
        bool v;
        if ((rc = nas_cfg_node_bool(cfg, node, what, &v, err))) return rc;
        *out = v ? 1.0 : 0.0;
        return 0;
    }
    }
    return NAS_EINVAL;
}

static int choices_push(choices *c, double v) {
    double *grown = realloc(c->v, (size_t)(c->n + 1) * sizeof *grown);
    if (!grown) return NAS_ENOMEM;
    c->v = grown;
    c->v[c->n++] = v;
    return 0;
}

static bool same_value(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(a)); }

/* A field given as a value, a list of values, or {min, max, step}. */
static int read_choices(const nas_cfg *cfg, const nas_cfg_node *node, const field_spec *spec,
                        const char *what, bool odd_only, choices *out, nas_err *err) {
    int rc = 0;
    double v;
    if (node->type == NAS_CFG_SCALAR) {
        if ((rc = scalar_value(cfg, node, spec, what, odd_only, &v, err))) return rc;
        return choices_push(out, v) ? nas_err_set(err, NAS_ENOMEM, "out of memory") : 0;
    }
    if (node->type == NAS_CFG_SEQ) {
        if (node->n == 0)
            return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: empty list; give at least one value",
                                 what);
        if (node->n > SPACE_MAX_CHOICES)
            return nas_cfg_error(cfg, node, err, NAS_ERANGE, "%s: more than %d values", what,
                                 SPACE_MAX_CHOICES);
        for (size_t i = 0; i < node->n; i++) {
            const nas_cfg_node *item = node->items[i];
            if (item->type != NAS_CFG_SCALAR)
                return nas_cfg_error(cfg, item, err, NAS_EINVAL,
                                     "%s: list items must be single values, not nested lists or maps",
                                     what);
            if ((rc = scalar_value(cfg, item, spec, what, odd_only, &v, err))) return rc;
            for (int j = 0; j < out->n; j++)
                if (same_value(out->v[j], v))
                    return nas_cfg_error(cfg, item, err, NAS_EINVAL, "%s: '%s' is listed twice", what,
                                         item->scalar);
            if (choices_push(out, v)) return nas_err_set(err, NAS_ENOMEM, "out of memory");
        }
        return 0;
    }
    /* {min, max, step} */
    if (spec->type != VAL_INT && spec->type != VAL_DOUBLE)
        return nas_cfg_error(cfg, node, err, NAS_EINVAL,
                             "%s: a {min, max, step} range needs numbers; list the values instead",
                             what);
    static const char *const range_keys[] = {"min", "max", "step", NULL};
    if ((rc = nas_cfg_check_keys(cfg, node, range_keys, what, err))) return rc;
    const char *missing = !nas_cfg_get(node, "min")   ? "min"
                          : !nas_cfg_get(node, "max") ? "max"
                                                      : NULL;
    if (missing)
        return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: range lacks '%s' ({min, max, step})",
                             what, missing);
    double lo, hi, step = 1.0;
    if ((rc = scalar_value(cfg, nas_cfg_get(node, "min"), spec, what, false, &lo, err)) ||
        (rc = scalar_value(cfg, nas_cfg_get(node, "max"), spec, what, false, &hi, err)))
        return rc;
    const nas_cfg_node *step_node = nas_cfg_get(node, "step");
    if (step_node) {
        field_spec step_spec = {spec->type, spec->type == VAL_INT ? 1 : 1e-6, spec->max, NULL};
        if ((rc = scalar_value(cfg, step_node, &step_spec, what, false, &step, err))) return rc;
    }
    if (hi < lo)
        return nas_cfg_error(cfg, node, err, NAS_EINVAL, "%s: min %g is larger than max %g", what,
                             lo, hi);
    double count = floor((hi - lo) / step + 1e-9) + 1;
    if (count > SPACE_MAX_CHOICES)
        return nas_cfg_error(cfg, node, err, NAS_ERANGE, "%s: the range has %.0f values (max %d)",
                             what, count, SPACE_MAX_CHOICES);
    if (!same_value(lo + (count - 1) * step, hi))
        return nas_cfg_error(cfg, node, err, NAS_EINVAL,
                             "%s: max %g is not min %g plus a whole number of steps of %g", what, hi,
                             lo, step);
    for (int i = 0; i < (int)count; i++) {
        /* Ratios: snap to 1e-9 so 0.1-steps give the values a person wrote. */
        v = lo + i * step;
        if (spec->type == VAL_DOUBLE) v = nearbyint(v * 1e9) / 1e9;
        if (odd_only && fmod(v, 2.0) == 0.0)
            return nas_cfg_error(cfg, node, err, NAS_EINVAL,
                                 "%s: the range includes the even kernel %g; kernels must be odd",
                                 what, v);
        if (choices_push(out, v)) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    }
    out->was_range = true;
    return 0;
}

static bool choices_has(const choices *c, double v) {
    for (int i = 0; i < c->n; i++)
        if (same_value(c->v[i], v)) return true;
    return false;
}

static bool only_kinds(const choices *kinds, unsigned mask) {
    for (int i = 0; i < kinds->n; i++)
        if (!(mask & (1u << (int)kinds->v[i]))) return false;
    return true;
}

/* The node of key in map for an error position, or the map when absent. */
static const nas_cfg_node *field_name_node(const nas_cfg_node *map, const char *key) {
    const nas_cfg_node *n = nas_cfg_get(map, key);
    return n ? n : map;
}

static const char *const stage_keys[] = {"kind",  "depth", "width", "stride", "kernel",
                                         "ratio", "act",   "se",    "pad",    NULL};
/* Keys a stage must give; ratio, act, se and pad default to 1, relu, false, same. */
static const char *const stage_required[] = {"kind", "depth", "width", "stride", "kernel", NULL};

static int read_stage(nas_space *sp, const nas_cfg *cfg, const nas_cfg_node *map, int index,
                      nas_err *err) {
    char what[48];
    snprintf(what, sizeof what, "stage %d", index);
    int rc = nas_cfg_check_keys(cfg, map, stage_keys, what, err);
    if (rc) return rc;
    for (int i = 0; stage_required[i]; i++)
        if (!nas_cfg_get(map, stage_required[i]))
            return nas_cfg_error(cfg, map, err, NAS_EINVAL, "%s: missing required key '%s'", what,
                                 stage_required[i]);
    static const double defaults[F_COUNT] = {0, 0, 0, 0, 0, 1.0, NAS_ACT_RELU, 0, NAS_PAD_SAME};
    for (int f = 0; f < F_COUNT; f++) {
        choices *c = &sp->fields[index][f];
        const nas_cfg_node *node = nas_cfg_get(map, field_names[f]);
        if (!node) {
            if (choices_push(c, defaults[f])) return nas_err_set(err, NAS_ENOMEM, "out of memory");
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "%s %s", what, field_names[f]);
        field_spec spec = spec_of(f);
        if ((rc = read_choices(cfg, node, &spec, label, f == F_KERNEL, c, err))) return rc;
    }
    /* Combinations that no architecture could validate are errors here, at
     * the key that causes them, rather than invalid points later. */
    const choices *kinds = &sp->fields[index][F_KIND];
    const unsigned irb_mask = (1u << NAS_BLOCK_FUSED_IRB) | (1u << NAS_BLOCK_IRB);
    if (choices_has(&sp->fields[index][F_SE], 1.0) && !only_kinds(kinds, irb_mask))
        return nas_cfg_error(cfg, field_name_node(map, "se"), err, NAS_EINVAL,
                             "%s se: squeeze-excite exists only in fused_irb and irb stages, and "
                             "this stage allows other kinds",
                             what);
    if (choices_has(&sp->fields[index][F_PAD], NAS_PAD_TIMM) &&
        !only_kinds(kinds, 1u << NAS_BLOCK_FUSED_IRB))
        return nas_cfg_error(cfg, field_name_node(map, "pad"), err, NAS_EINVAL,
                             "%s pad: 'timm' applies only to fused_irb stages", what);
    if (choices_has(kinds, NAS_BLOCK_CONV)) {
        const choices *ratio = &sp->fields[index][F_RATIO];
        if (kinds->n > 1)
            return nas_cfg_error(cfg, nas_cfg_get(map, "kind"), err, NAS_EINVAL,
                                 "%s kind: conv cannot be mixed with other kinds in one stage", what);
        if (ratio->n != 1 || ratio->v[0] != 1.0)
            return nas_cfg_error(cfg, field_name_node(map, "ratio"), err, NAS_EINVAL,
                                 "%s ratio: conv stages have no ratio; leave it out", what);
    }
    return 0;
}

/* ---- dimensions, decode, encode --------------------------------------- */

static int add_dim(nas_space *sp, int stage, int field, const nas_cfg *cfg, nas_err *err) {
    if (sp->n_dims == NAS_SPACE_MAX_DIMS)
        return nas_cfg_error(cfg, NULL, err, NAS_ERANGE,
                             "the space has more than %d searchable fields; fix some values",
                             NAS_SPACE_MAX_DIMS);
    space_dim *d = &sp->dims[sp->n_dims++];
    d->stage = stage;
    d->field = field;
    if (stage < 0)
        snprintf(d->name, sizeof d->name, "resolution");
    else
        snprintf(d->name, sizeof d->name, "stage%d.%s", stage, field_names[field]);
    return 0;
}

/* Index of the cell that coordinate x falls in among n equal cells of [0,1]. */
static int cell_of(double x, int n) {
    if (!(x > 0.0)) return 0; /* also NaN */
    if (x >= 1.0) return n - 1;
    int i = (int)(x * n);
    return i < n ? i : n - 1;
}

static double cell_centre(int i, int n) { return (i + 0.5) / n; }

static int index_of(const choices *c, double v) {
    for (int i = 0; i < c->n; i++)
        if (same_value(c->v[i], v)) return i;
    return -1;
}

static void set_field(nas_stage *st, int field, double v) {
    switch (field) {
    case F_KIND: st->kind = (nas_block_kind)(int)v; break;
    case F_DEPTH: st->depth = (int)v; break;
    case F_WIDTH: st->width = (int)v; break;
    case F_STRIDE: st->stride = (int)v; break;
    case F_KERNEL: st->kernel = (int)v; break;
    case F_RATIO: st->ratio = v; break;
    case F_ACT: st->act = (nas_act)(int)v; break;
    case F_SE: st->se = v != 0.0; break;
    case F_PAD: st->pad = (nas_pad)(int)v; break;
    default: assert(!"field");
    }
}

static double get_field(const nas_stage *st, int field) {
    switch (field) {
    case F_KIND: return st->kind;
    case F_DEPTH: return st->depth;
    case F_WIDTH: return st->width;
    case F_STRIDE: return st->stride;
    case F_KERNEL: return st->kernel;
    case F_RATIO: return st->ratio;
    case F_ACT: return st->act;
    case F_SE: return st->se ? 1.0 : 0.0;
    case F_PAD: return st->pad;
    default: assert(!"field"); return 0;
    }
}

/* Decodes from per-dimension cell indices (the common core of decode, sample, mutate). */
static void decode_indices(const nas_space *sp, const int *idx, nas_arch *out) {
    *out = sp->base;
    out->resolution = (int)sp->resolution.v[0];
    for (int i = 0; i < sp->base.n_stages; i++)
        for (int f = 0; f < F_COUNT; f++) set_field(&out->stages[i], f, sp->fields[i][f].v[0]);
    for (int d = 0; d < sp->n_dims; d++) {
        const space_dim *dim = &sp->dims[d];
        double v = dim_choices(sp, d)->v[idx[d]];
        if (dim->stage < 0)
            out->resolution = (int)v;
        else
            set_field(&out->stages[dim->stage], dim->field, v);
    }
    for (int i = 0; i < sp->base.n_stages; i++)
        if (out->stages[i].depth == 0) out->stages[i].kind = (nas_block_kind)(int)sp->fields[i][F_KIND].v[0];
    nas_arch_canonicalize(out);
}

void nas_space_decode(const nas_space *space, const double *x, nas_arch *out) {
    int idx[NAS_SPACE_MAX_DIMS];
    for (int d = 0; d < space->n_dims; d++) idx[d] = cell_of(x[d], dim_choices(space, d)->n);
    decode_indices(space, idx, out);
}

static void value_text(int field, double v, char *buf, size_t size) {
    switch (field) {
    case F_KIND: snprintf(buf, size, "%s", nas_block_kind_name((nas_block_kind)(int)v)); break;
    case F_ACT: snprintf(buf, size, "%s", nas_act_name((nas_act)(int)v)); break;
    case F_PAD: snprintf(buf, size, "%s", nas_pad_name((nas_pad)(int)v)); break;
    case F_SE: snprintf(buf, size, "%s", v != 0.0 ? "true" : "false"); break;
    default: snprintf(buf, size, "%g", v); break;
    }
}

/* "96..192 step 16" or "relu, swish" (shortened past 8 values). */
static void describe_choices(const choices *c, int field, char *buf, size_t size) {
    char a[32], b[32];
    if (c->was_range && c->n >= 2) {
        value_text(field, c->v[0], a, sizeof a);
        value_text(field, c->v[c->n - 1], b, sizeof b);
        snprintf(buf, size, "%s..%s step %g", a, b, c->v[1] - c->v[0]);
        return;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->n && used < size; i++) {
        if (i == 8 && c->n > 9) {
            value_text(field, c->v[c->n - 1], a, sizeof a);
            snprintf(buf + used, size - used, ", ..., %s", a);
            return;
        }
        value_text(field, c->v[i], a, sizeof a);
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", a);
        if (w < 0) return;
        used += (size_t)w;
    }
}

static int not_allowed(const nas_arch *a, int stage, int field, const choices *c, double v,
                       nas_err *err) {
    char allowed[256], got[32];
    describe_choices(c, field < 0 ? F_WIDTH : field, allowed, sizeof allowed);
    value_text(field < 0 ? F_WIDTH : field, v, got, sizeof got);
    if (stage < 0)
        return nas_err_set(err, NAS_ERANGE, "resolution %s is not in the space (allowed: %s)", got,
                           allowed);
    return nas_err_set(err, NAS_ERANGE, "stage %d (%s): %s %s is not in the space (allowed: %s)",
                       stage, nas_block_kind_name(a->stages[stage].kind), field_names[field], got,
                       allowed);
}

int nas_space_contains(const nas_space *space, const nas_arch *a, nas_err *err) {
    int rc = nas_arch_validate(a, err);
    if (rc) return rc;
    const nas_arch *b = &space->base;
    if (a->n_stages != b->n_stages)
        return nas_err_set(err, NAS_EINVAL, "the architecture has %d stages; space '%s' has %d",
                           a->n_stages, space->name, b->n_stages);
    if (a->in_channels != b->in_channels || a->classes != b->classes)
        return nas_err_set(err, NAS_EINVAL,
                           "the architecture takes %d input channels and %d classes; space '%s' "
                           "has %d and %d",
                           a->in_channels, a->classes, space->name, b->in_channels, b->classes);
    if (!same_value(a->bn_eps, b->bn_eps) || !same_value(a->dropout, b->dropout))
        return nas_err_set(err, NAS_EINVAL,
                           "bn_eps %g / dropout %g differ from space '%s' (%g / %g)", a->bn_eps,
                           a->dropout, space->name, b->bn_eps, b->dropout);
    if (index_of(&space->resolution, a->resolution) < 0)
        return not_allowed(a, -1, -1, &space->resolution, a->resolution, err);
    for (int i = 0; i < a->n_stages; i++) {
        const nas_stage *st = &a->stages[i];
        for (int f = 0; f < F_COUNT; f++) {
            /* An absent stage is only its kind slot and depth 0. */
            if (st->depth == 0 && f != F_KIND && f != F_DEPTH) continue;
            double v = get_field(st, f);
            if (index_of(&space->fields[i][f], v) < 0)
                return not_allowed(a, i, f, &space->fields[i][f], v, err);
        }
    }
    return 0;
}

/* Cell indices of a contained architecture (absent stages' fields -> 0). */
static void indices_of(const nas_space *sp, const nas_arch *a, int *idx) {
    for (int d = 0; d < sp->n_dims; d++) {
        const space_dim *dim = &sp->dims[d];
        if (dim->stage < 0) {
            idx[d] = index_of(&sp->resolution, a->resolution);
            continue;
        }
        const nas_stage *st = &a->stages[dim->stage];
        bool absent = st->depth == 0 && dim->field != F_DEPTH;
        idx[d] = absent ? 0 : index_of(dim_choices(sp, d), get_field(st, dim->field));
        assert(idx[d] >= 0);
    }
}

int nas_space_encode(const nas_space *space, const nas_arch *a, double *x, nas_err *err) {
    int rc = nas_space_contains(space, a, err);
    if (rc) return rc;
    int idx[NAS_SPACE_MAX_DIMS];
    indices_of(space, a, idx);
    for (int d = 0; d < space->n_dims; d++) x[d] = cell_centre(idx[d], dim_choices(space, d)->n);
    return 0;
}

void nas_space_sample(const nas_space *space, nas_rng *rng, nas_arch *out) {
    int idx[NAS_SPACE_MAX_DIMS];
    for (int d = 0; d < space->n_dims; d++)
        idx[d] = (int)nas_rng_below(rng, (uint64_t)dim_choices(space, d)->n);
    decode_indices(space, idx, out);
}

void nas_space_mutate(const nas_space *space, nas_rng *rng, const nas_arch *in, nas_arch *out) {
    if (nas_space_contains(space, in, NULL) != 0) {
        /* Not from this space: nothing to perturb, so start afresh. */
        nas_space_sample(space, rng, out);
        return;
    }
    int idx[NAS_SPACE_MAX_DIMS], effective[NAS_SPACE_MAX_DIMS], n_effective = 0;
    indices_of(space, in, idx);
    for (int d = 0; d < space->n_dims; d++) {
        const space_dim *dim = &space->dims[d];
        /* Fields of an absent stage change nothing; only its depth can move. */
        if (dim->stage >= 0 && in->stages[dim->stage].depth == 0 && dim->field != F_DEPTH) continue;
        effective[n_effective++] = d;
    }
    if (n_effective == 0) {
        *out = *in;
        nas_arch_canonicalize(out);
        return;
    }
    int d = effective[nas_rng_below(rng, (uint64_t)n_effective)];
    int n = dim_choices(space, d)->n;
    idx[d] = (idx[d] + 1 + (int)nas_rng_below(rng, (uint64_t)(n - 1))) % n;
    decode_indices(space, idx, out);
}

/* ---- loading ---------------------------------------------------------- */

/* Decodes corner and seeded random points and validates them (see top). */
static int lint_space(const nas_space *sp, const nas_cfg *cfg, const nas_cfg_node *root,
                      nas_err *err) {
    int idx[NAS_SPACE_MAX_DIMS];
    nas_arch a;
    nas_err verr;
    nas_rng rng;
    nas_rng_seed(&rng, 0x5eed5ace);
    for (int trial = 0; trial < 3 + SPACE_LINT_SAMPLES; trial++) {
        const char *which = "a random point";
        for (int d = 0; d < sp->n_dims; d++) {
            int n = dim_choices(sp, d)->n;
            if (trial == 0) idx[d] = 0, which = "the point with every first value";
            else if (trial == 1) idx[d] = n - 1, which = "the point with every last value";
            else if (trial == 2) {
                /* Smallest input with the most striding and largest kernels. */
                idx[d] = sp->dims[d].stage < 0 ? 0 : n - 1;
                which = "the smallest resolution with every other last value";
            } else idx[d] = (int)nas_rng_below(&rng, (uint64_t)n);
        }
        decode_indices(sp, idx, &a);
        if (nas_arch_validate(&a, &verr))
            return nas_cfg_error(cfg, root, err, NAS_EINVAL,
                                 "the space contains invalid architectures, e.g. %s: %s; narrow "
                                 "the ranges",
                                 which, verr.msg);
    }
    return 0;
}

static char *name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".yaml") == 0) len -= 5;
    else if (len > 4 && strcmp(base + len - 4, ".yml") == 0) len -= 4;
    return strndup(base, len);
}

static const char *const top_keys[] = {"name",    "description", "resolution", "in_channels",
                                       "classes", "bn_eps",      "dropout",    "stages",
                                       NULL};

static int read_space(nas_space *sp, const nas_cfg *cfg, const nas_cfg_node *root,
                      const char *default_name, nas_err *err) {
    if (!root)
        return nas_cfg_error(cfg, NULL, err, NAS_EINVAL,
                             "empty file; expected a search space with resolution and stages");
    int rc = nas_cfg_check_keys(cfg, root, top_keys, "space", err);
    if (rc) return rc;
    const char *name = NULL, *desc = NULL;
    if ((rc = nas_cfg_get_string(cfg, root, "name", false, NULL, &name, err)) ||
        (rc = nas_cfg_get_string(cfg, root, "description", false, NULL, &desc, err)))
        return rc;
    sp->name = strdup(name ? name : default_name);
    if (!sp->name) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    long in_channels, classes;
    nas_arch *b = &sp->base;
    if ((rc = nas_cfg_get_int(cfg, root, "in_channels", false, 3, 1, 64, &in_channels, err)) ||
        (rc = nas_cfg_get_int(cfg, root, "classes", false, 1000, 1, 100000, &classes, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "bn_eps", false, 1e-5, 1e-12, 0.5, &b->bn_eps, err)) ||
        (rc = nas_cfg_get_double(cfg, root, "dropout", false, 0.0, 0.0, 0.99, &b->dropout, err)))
        return rc;
    b->in_channels = (int)in_channels;
    b->classes = (int)classes;
    const nas_cfg_node *res = nas_cfg_get(root, "resolution");
    if (!res) return nas_cfg_error(cfg, root, err, NAS_EINVAL, "space: missing required key 'resolution'");
    field_spec res_spec = {VAL_INT, 1, NAS_ARCH_MAX_RESOLUTION, NULL};
    if ((rc = read_choices(cfg, res, &res_spec, "resolution", false, &sp->resolution, err))) return rc;
    const nas_cfg_node *stages = nas_cfg_get(root, "stages");
    if (!stages) return nas_cfg_error(cfg, root, err, NAS_EINVAL, "space: missing required key 'stages'");
    if ((rc = nas_cfg_expect(cfg, stages, NAS_CFG_SEQ, "space stages", err))) return rc;
    if (stages->n < 1 || stages->n > NAS_ARCH_MAX_STAGES)
        return nas_cfg_error(cfg, stages, err, NAS_ERANGE, "space stages: %zu given; 1 to %d allowed",
                             stages->n, NAS_ARCH_MAX_STAGES);
    b->n_stages = (int)stages->n;
    for (int i = 0; i < b->n_stages; i++) {
        if ((rc = nas_cfg_expect(cfg, stages->items[i], NAS_CFG_MAP, "space stage", err)) ||
            (rc = read_stage(sp, cfg, stages->items[i], i, err)))
            return rc;
    }
    if (sp->resolution.n >= 2 && (rc = add_dim(sp, -1, 0, cfg, err))) return rc;
    for (int i = 0; i < b->n_stages; i++)
        for (int f = 0; f < F_COUNT; f++)
            if (sp->fields[i][f].n >= 2 && (rc = add_dim(sp, i, f, cfg, err))) return rc;
    return lint_space(sp, cfg, root, err);
}

int nas_space_from_cfg(const nas_cfg *cfg, const nas_cfg_node *node, const char *name,
                       nas_space **out, nas_err *err) {
    *out = NULL;
    nas_space *sp = calloc(1, sizeof *sp);
    if (!sp) return nas_err_set(err, NAS_ENOMEM, "out of memory");
    int rc = read_space(sp, cfg, node, name ? name : "space", err);
    if (rc) {
        nas_space_free(&sp);
        return rc;
    }
    *out = sp;
    return 0;
}

int nas_space_load(const char *name_or_path, nas_space **out, nas_err *err) {
    *out = NULL;
    char *path = NULL;
    int rc = nas_config_resolve(name_or_path, "spaces", &path, err);
    if (rc) return rc;
    nas_cfg *cfg = NULL;
    char *stem = name_from_path(path);
    if (!stem) rc = nas_err_set(err, NAS_ENOMEM, "out of memory");
    if (!rc) rc = nas_cfg_load_file(path, &cfg, err);
    if (!rc) rc = nas_space_from_cfg(cfg, cfg->root, stem, out, err);
    nas_cfg_free(&cfg);
    free(stem);
    free(path);
    return rc;
}
