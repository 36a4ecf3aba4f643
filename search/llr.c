/*
 * search/llr.c - LLR-NAS (GENet paper, section 4.2). NOT IMPLEMENTED YET:
 * creating it fails with NAS_EUNSUPPORTED so nothing mistakes it for done.
 */
#include "search/strategy_impl.h"

static int llr_create(const char *name, const nas_strategy_params *p, void **self, nas_err *err) {
    (void)p, (void)self;
    return nas_err_set(err, NAS_EUNSUPPORTED, "strategy '%s' is not implemented in this build yet",
                       name);
}

const nas_strategy_impl nas_strategy_llr_impl = {llr_create, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
