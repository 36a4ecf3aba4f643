/*
 * trainer/cuda/algo_cache.c - open-addressing hash table from conv shape to
 * the algorithm cuDNN picked (see algo_cache.h). Linear probing, grown at 50%
 * load; keys are hashed field by field so struct padding never matters.
 */
#include "trainer/cuda/algo_cache.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct slot {
    bool used;
    nas_conv_key key;
    nas_conv_algo algo;
} slot;

struct nas_conv_algo_cache {
    slot *slots;
    size_t capacity; /* power of two */
    size_t count;
    size_t max_workspace;
};

enum { INITIAL_CAPACITY = 64 };

static uint64_t mix(uint64_t h, int64_t v) {
    /* FNV-1a over the eight bytes of v. */
    for (int i = 0; i < 8; i++) {
        h ^= (uint64_t)((v >> (8 * i)) & 0xff);
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t key_hash(const nas_conv_key *k) {
    uint64_t h = 1469598103934665603ull;
    const int fields[] = {k->batch,   k->c_in,     k->height,   k->width, k->c_out,
                          k->kernel_h, k->kernel_w, k->stride,   k->pad,   k->groups,
                          k->dtype,    (int)k->dir};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) h = mix(h, fields[i]);
    return h;
}

static bool key_equal(const nas_conv_key *a, const nas_conv_key *b) {
    return a->batch == b->batch && a->c_in == b->c_in && a->height == b->height &&
           a->width == b->width && a->c_out == b->c_out && a->kernel_h == b->kernel_h &&
           a->kernel_w == b->kernel_w && a->stride == b->stride && a->pad == b->pad &&
           a->groups == b->groups && a->dtype == b->dtype && a->dir == b->dir;
}

nas_conv_algo_cache *nas_conv_algo_cache_new(void) {
    nas_conv_algo_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(INITIAL_CAPACITY, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->capacity = INITIAL_CAPACITY;
    return c;
}

void nas_conv_algo_cache_free(nas_conv_algo_cache **cache) {
    if (!cache || !*cache) return;
    free((*cache)->slots);
    free(*cache);
    *cache = NULL;
}

static slot *find_slot(slot *slots, size_t capacity, const nas_conv_key *key) {
    size_t mask = capacity - 1;
    size_t i = (size_t)key_hash(key) & mask;
    /* Load stays below 50%, so an empty slot is always reached. */
    while (slots[i].used && !key_equal(&slots[i].key, key)) i = (i + 1) & mask;
    return &slots[i];
}

bool nas_conv_algo_cache_get(const nas_conv_algo_cache *cache, const nas_conv_key *key,
                             nas_conv_algo *out) {
    assert(cache && key);
    slot *s = find_slot(cache->slots, cache->capacity, key);
    if (!s->used) return false;
    if (out) *out = s->algo;
    return true;
}

static int grow(nas_conv_algo_cache *cache, nas_err *err) {
    size_t new_capacity = cache->capacity * 2;
    slot *fresh = calloc(new_capacity, sizeof *fresh);
    if (!fresh)
        return nas_err_set(err, NAS_ENOMEM, "out of host memory growing the conv algorithm cache");
    for (size_t i = 0; i < cache->capacity; i++) {
        if (!cache->slots[i].used) continue;
        *find_slot(fresh, new_capacity, &cache->slots[i].key) = cache->slots[i];
    }
    free(cache->slots);
    cache->slots = fresh;
    cache->capacity = new_capacity;
    return 0;
}

int nas_conv_algo_cache_put(nas_conv_algo_cache *cache, const nas_conv_key *key,
                            const nas_conv_algo *algo, nas_err *err) {
    assert(cache && key && algo);
    if ((cache->count + 1) * 2 > cache->capacity) {
        int rc = grow(cache, err);
        if (rc < 0) return rc;
    }
    slot *s = find_slot(cache->slots, cache->capacity, key);
    if (!s->used) {
        s->used = true;
        s->key = *key;
        cache->count++;
    }
    s->algo = *algo;
    /* Replacing an entry can only lower the need of that one shape; the
     * shared workspace never shrinks, so the maximum stays an upper bound. */
    if (algo->workspace_bytes > cache->max_workspace) cache->max_workspace = algo->workspace_bytes;
    assert(cache->count * 2 <= cache->capacity);
    return 0;
}

size_t nas_conv_algo_cache_count(const nas_conv_algo_cache *cache) { return cache->count; }

size_t nas_conv_algo_cache_max_workspace(const nas_conv_algo_cache *cache) {
    return cache->max_workspace;
}
