/*
 * space/space.h - a search space: the allowed values of each stage field.
 *
 * Read from YAML at run time (configs/spaces/NAME.yaml; no space is hard-coded in
 * C). A space has a fixed list of stages, each with a kind and per-field sets
 * of allowed values, plus allowed resolutions. It maps an architecture to a
 * point in [0,1]^D and back: decoding rounds every coordinate to the nearest
 * allowed value, so any point decodes to a valid architecture, and strategies
 * work on vectors only, never on block semantics.
 *
 * Space YAML: the preset format of arch.h (in_channels, classes, bn_eps, dropout
 * fixed; plus optional name and description), where resolution and every stage
 * field may be a fixed value, a list of allowed values ([3, 5], [relu, swish],
 * [false, true]) or an inclusive range {min: 96, max: 192, step: 16}. Stages need
 * kind, depth, width, stride and kernel; ratio, act, se and pad default to 1,
 * relu, false and same. Dimension order: resolution, then stage by stage the
 * fields in the order kind, depth, width, stride, kernel, ratio, act, se, pad,
 * skipping fields with one value. Value i of k owns [i/k, (i+1)/k).
 * A stage whose depth allows 0 may be absent; absent stages decode to the
 * stage's first kind with fields pinned by nas_arch_canonicalize.
 */
#ifndef NAS_SPACE_SPACE_H
#define NAS_SPACE_SPACE_H

#include "common/error.h"
#include "common/rng.h"
#include "space/arch.h"

#define NAS_SPACE_MAX_DIMS 256

typedef struct nas_space nas_space;

/* Loads a space by name (configs/spaces/NAME.yaml) or path. */
int nas_space_load(const char *name_or_path, nas_space **out, nas_err *err);
/* Reads a space from a parsed YAML node (a space file's root, or a `space:`
 * mapping inside another config); name is used when the node has no `name` key. */
struct nas_cfg;
struct nas_cfg_node;
int nas_space_from_cfg(const struct nas_cfg *cfg, const struct nas_cfg_node *node, const char *name,
                       nas_space **out, nas_err *err);
void nas_space_free(nas_space **space);

const char *nas_space_name(const nas_space *space);
/* Number of dimensions D of the encoding (fields with more than one allowed value). */
int nas_space_dims(const nas_space *space);
/* Human name of dimension d, e.g. "stage3.width" or "resolution". */
const char *nas_space_dim_name(const nas_space *space, int d);
/* Number of allowed values in dimension d (>= 2). */
int nas_space_dim_choices(const nas_space *space, int d);

/* Point x in [0,1]^D (clamped) -> valid architecture in the space. */
void nas_space_decode(const nas_space *space, const double *x, nas_arch *out);
/* Architecture -> point (the centre of each value's cell). Fails, naming the
 * stage and field, if the arch is not in the space. */
int nas_space_encode(const nas_space *space, const nas_arch *a, double *x, nas_err *err);
/* Validates a and checks it belongs to the space. */
int nas_space_contains(const nas_space *space, const nas_arch *a, nas_err *err);

/* Uniform sample over the allowed values of every field. */
void nas_space_sample(const nas_space *space, nas_rng *rng, nas_arch *out);
/* Copy of in with one randomly chosen dimension moved to another allowed value. */
void nas_space_mutate(const nas_space *space, nas_rng *rng, const nas_arch *in, nas_arch *out);

#endif
