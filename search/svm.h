/*
 * search/svm.h - a two-class SVM boundary (libsvm C-SVC) for LA-MCTS.
 *
 * Trained with libsvm exactly as sklearn's SVC(kernel, gamma) that LA-MCTS
 * uses (C = 1, degree 3, coef0 0, tol 1e-3, shrinking). Prediction does not
 * go through svm_predict: the support vectors are copied into a dense matrix
 * (transposed, so the loop over them vectorises)
 * and the decision function sum_i coef_i K(sv_i, x) - rho is evaluated
 * directly, which is several times faster on the many candidates the region
 * sampler tests, and gives the same labels (checked in tests).
 */
#ifndef NAS_SEARCH_SVM_H
#define NAS_SEARCH_SVM_H

#include "common/error.h"

typedef enum { NAS_SVM_LINEAR = 0, NAS_SVM_POLY, NAS_SVM_RBF } nas_svm_kernel;
typedef enum { NAS_SVM_GAMMA_AUTO = 0, NAS_SVM_GAMMA_SCALE } nas_svm_gamma;

typedef struct nas_svm nas_svm;

/* labels are 0 or 1; both must occur. */
int nas_svm_train(const double *x, int n, int dims, const int *labels, nas_svm_kernel kernel,
                  nas_svm_gamma gamma, double c, nas_svm **out, nas_err *err);
void nas_svm_free(nas_svm **svm);
/* Label (0 or 1) for one point. */
int nas_svm_predict(const nas_svm *svm, const double *x);
/* The same through libsvm's own svm_predict (for tests). */
int nas_svm_predict_libsvm(const nas_svm *svm, const double *x);

#endif
