/*
 * worker/eval_sim.h - the simulated evaluator (backend "sim").
 *
 * For testing the distributed system and for demos without a GPU. Nothing it
 * produces is a measurement: every result has simulated = true and device
 * "sim:<profile>", and the store and every `nas` output show it as `sim`.
 *
 * Accuracy (a fixed function of the architecture, plus seeded noise):
 *   m = 1 - exp(-macs / 3e8)          compute capacity
 *   p = 1 - exp(-params / 5e6)        parameter capacity
 *   d = 1 - exp(-layers / 16)         depth (sum of stage depths)
 *   r = min(1, resolution / 224)^0.25 input detail
 *   top1 = clamp(0.30 + 0.62 * (0.5 m + 0.3 p + 0.2 d) * r + noise * N(0,1), 0.01, 0.99)
 *   top5 = 1 - (1 - top1)^2 ;  loss = -ln(top1)
 * The noise draw is seeded by (options seed, architecture hash): the same
 * architecture always gets the same accuracy, on any worker and attempt.
 *
 * Latency per batch b (ms), from the cost model's layers and a device profile
 * {peak fp16/bf16 and fp32 FLOP/s, memory bandwidth, per-kernel launch}:
 *   conv/dwconv/fc/se layers: max(2 * macs * b / (peak * efficiency),
 *                                 bytes(out * b + weights) / bandwidth) + launch
 *   efficiency: 1x1 conv 0.6, k x k conv 0.45, depthwise 0.04, fc 0.3, se 0.02.
 *   BN is folded away (as latency.c does), pooling costs memory only.
 * p50 = 0.99 mean, p90 = 1.04 mean; a +-1% seeded jitter is added to mean.
 * Profiles: a100 (312/19.5 TFLOP/s, 1.56 TB/s, 4 us), h100 (989/67, 3.35
 * TB/s, 3 us), v100 (125/15.7, 0.9 TB/s, 5 us), cpu (1/1, 0.05 TB/s, 20 us).
 *
 * Options (JSON object, the experiment's evaluator.sim section):
 *   delay_seconds  mean wall time of a train job (measure jobs take a tenth)
 *   delay_jitter   relative spread of that delay in [0, 1]
 *   failure_rate   probability that an attempt fails (retryable)
 *   crash_rate     probability that the job process aborts (a crash)
 *   noise          accuracy noise standard deviation (default 0.01)
 *   device         a100 | h100 | v100 | cpu (default a100)
 *   seed           noise seed (default 1)
 * Failure and crash draws are seeded by (seed, job id, attempt), so retries
 * can succeed and a run is reproducible.
 */
#ifndef NAS_WORKER_EVAL_SIM_H
#define NAS_WORKER_EVAL_SIM_H

#include <stdint.h>

#include "space/arch.h"
#include "space/cost.h"
#include "worker/evaluator.h"

extern const nas_evaluator_ops nas_eval_sim_ops;

/* The noiseless accuracy of the formula above. */
double nas_sim_top1_clean(const nas_arch *a, const nas_cost *cost);

/* Simulated mean latency in ms; NAS_EINVAL for an unknown device or precision. */
int nas_sim_latency_ms(const nas_cost *cost, const char *device, int batch, const char *precision, double *ms,
                       nas_err *err);

#endif
