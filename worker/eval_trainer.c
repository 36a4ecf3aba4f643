/* worker/eval_trainer.c - see eval_trainer.h. */
#include "worker/eval_trainer.h"

#include <stdio.h>

void nas_eval_progress_forward(void *ctx, const nas_train_progress *p) {
    nas_eval_progress_bridge *b = ctx;
    if (!b->fn || p->total_steps <= 0) return;
    b->fn(b->ctx, (double)p->step / (double)p->total_steps, p->loss);
}

static int save_checkpoint(nas_trainer *t, const nas_eval_job *job, nas_eval_result *out,
                           nas_err *err) {
    char path[sizeof out->checkpoint];
    int len = snprintf(path, sizeof path, "%s/job-%lld-attempt-%d.safetensors",
                       job->work_dir ? job->work_dir : ".", (long long)job->job_id, job->attempt);
    if (len < 0 || (size_t)len >= sizeof path)
        return nas_err_set(err, NAS_EINVAL, "the work folder path is too long for a checkpoint path");
    int rc = nas_trainer_save(t, path, err);
    if (!rc) snprintf(out->checkpoint, sizeof out->checkpoint, "%s", path);
    return rc;
}

int nas_eval_train_and_test(nas_trainer *t, const nas_eval_job *job, const nas_recipe *r,
                            nas_eval_result *out, nas_err *err) {
    int rc = nas_trainer_fit(t, err);
    nas_eval_metrics m;
    if (!rc) rc = nas_trainer_evaluate(t, &m, err);
    if (rc) return rc;
    out->has_accuracy = true;
    out->top1 = m.top1;
    out->top5 = m.top5;
    out->loss = m.loss;
    out->train_seconds = nas_trainer_train_seconds(t);
    return r->save_checkpoint ? save_checkpoint(t, job, out, err) : 0;
}

int nas_eval_measure_latencies(nas_trainer *t, const nas_recipe *r, nas_eval_result *out,
                               nas_err *err) {
    int n = r->n_latency_batches < NAS_MAX_LATENCY_BATCHES ? r->n_latency_batches
                                                           : NAS_MAX_LATENCY_BATCHES;
    for (int i = 0; i < n; i++) {
        nas_latency_summary s;
        int rc = nas_trainer_latency(t, r->latency_batches[i], &s, err);
        if (rc < 0) return rc;
        nas_latency_stat *l = &out->latency[out->n_latency++];
        l->batch = r->latency_batches[i];
        snprintf(l->precision, sizeof l->precision, "%s", r->latency_precision);
        l->mean_ms = s.mean_ms;
        l->p50_ms = s.p50_ms;
        l->p90_ms = s.p90_ms;
    }
    return 0;
}
