/*
 * search/svm.c - libsvm training, dense prediction (see svm.h).
 *
 * libsvm's model points into the training problem's nodes, so the nodes live
 * as long as the model, inside nas_svm.
 */
#include <libsvm/svm.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "search/fastexp.h"
#include "search/svm.h"

struct nas_svm {
    int dims;
    struct svm_model *model;
    struct svm_node *nodes; /* n x (dims + 1) */
    struct svm_node **rows;
    double *y;
    nas_svm_kernel kernel;
    double gamma, coef0;
    int degree;
    int n_sv;
    double *svt;  /* dims x n_sv: the support vectors transposed, so that the
                   * decision loop runs over vectors (vectorised) */
    double *coef; /* n_sv */
    double rho;
    int label_pos, label_neg; /* label when the decision value is > 0, and otherwise */
};

static void quiet(const char *s) { (void)s; }

void nas_svm_free(nas_svm **svm) {
    if (!svm || !*svm) return;
    nas_svm *s = *svm;
    if (s->model) svm_free_and_destroy_model(&s->model);
    free(s->nodes);
    free(s->rows);
    free(s->y);
    free(s->svt);
    free(s->coef);
    free(s);
    *svm = NULL;
}

int nas_svm_train(const double *x, int n, int dims, const int *labels, nas_svm_kernel kernel,
                  nas_svm_gamma gamma, double c, nas_svm **out, nas_err *err) {
    *out = NULL;
    nas_svm *s = calloc(1, sizeof *s);
    if (!s) return nas_err_set(err, NAS_ENOMEM, "out of memory training an SVM");
    s->dims = dims;
    s->nodes = malloc(sizeof *s->nodes * (size_t)n * (size_t)(dims + 1));
    s->rows = malloc(sizeof *s->rows * (size_t)n);
    s->y = malloc(sizeof *s->y * (size_t)n);
    if (!s->nodes || !s->rows || !s->y) {
        nas_svm_free(&s);
        return nas_err_set(err, NAS_ENOMEM, "out of memory training an SVM");
    }
    double mean = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        struct svm_node *row = s->nodes + (size_t)i * (size_t)(dims + 1);
        for (int d = 0; d < dims; d++) {
            double v = x[(size_t)i * (size_t)dims + (size_t)d];
            row[d].index = d + 1;
            row[d].value = v;
            mean += v;
            sq += v * v;
        }
        row[dims].index = -1;
        row[dims].value = 0;
        s->rows[i] = row;
        s->y[i] = labels[i];
    }
    /* sklearn: 'auto' = 1/n_features, 'scale' = 1/(n_features * X.var()) */
    double total = (double)n * dims;
    mean /= total;
    double var = sq / total - mean * mean;
    s->gamma = gamma == NAS_SVM_GAMMA_SCALE && var > 0 ? 1.0 / (dims * var) : 1.0 / dims;
    s->kernel = kernel;
    s->degree = 3;
    s->coef0 = 0;
    struct svm_parameter param = {
        .svm_type = C_SVC,
        .kernel_type = kernel == NAS_SVM_LINEAR ? LINEAR : kernel == NAS_SVM_POLY ? POLY : RBF,
        .degree = s->degree,
        .gamma = s->gamma,
        .coef0 = s->coef0,
        .cache_size = 40,
        .eps = 1e-3,
        .C = c,
        .shrinking = 1,
    };
    struct svm_problem prob = {.l = n, .y = s->y, .x = s->rows};
    const char *bad = svm_check_parameter(&prob, &param);
    if (bad) {
        nas_svm_free(&s);
        return nas_err_set(err, NAS_EINVAL, "SVM parameters rejected by libsvm: %s", bad);
    }
    svm_set_print_string_function(quiet);
    s->model = svm_train(&prob, &param);
    if (!s->model || svm_get_nr_class(s->model) != 2) {
        nas_svm_free(&s);
        return nas_err_set(err, NAS_EINVAL, "SVM training needs both labels among the samples");
    }
    s->n_sv = s->model->l;
    s->coef = malloc(sizeof(double) * (size_t)s->n_sv);
    s->svt = malloc(sizeof(double) * (size_t)s->n_sv * (size_t)dims);
    if (!s->coef || !s->svt) {
        nas_svm_free(&s);
        return nas_err_set(err, NAS_ENOMEM, "out of memory training an SVM");
    }
    for (int j = 0; j < s->n_sv; j++) {
        int i = s->model->sv_indices[j] - 1; /* 1-based into the training set */
        s->coef[j] = s->model->sv_coef[0][j];
        for (int d = 0; d < dims; d++)
            s->svt[(size_t)d * (size_t)s->n_sv + (size_t)j] = x[(size_t)i * (size_t)dims + d];
    }
    s->rho = s->model->rho[0];
    s->label_pos = s->model->label[0];
    s->label_neg = s->model->label[1];
    *out = s;
    return 0;
}

int nas_svm_predict(const nas_svm *s, const double *x) {
    double dec = -s->rho;
    int D = s->dims;
    bool rbf = s->kernel == NAS_SVM_RBF;
    /* in blocks over the support vectors: every loop over j vectorises */
    enum { BLOCK = 64 };
    double k[BLOCK];
    for (int j0 = 0; j0 < s->n_sv; j0 += BLOCK) {
        int cnt = s->n_sv - j0 < BLOCK ? s->n_sv - j0 : BLOCK;
        for (int j = 0; j < cnt; j++) k[j] = 0.0;
        const double *col = s->svt + (size_t)j0; /* column d at col + d * n_sv */
        if (rbf) { /* squared distances, then the kernel */
            for (int d = 0; d < D; d++, col += s->n_sv)
                for (int j = 0; j < cnt; j++) k[j] += (x[d] - col[j]) * (x[d] - col[j]);
            for (int j = 0; j < cnt; j++) k[j] = nas_exp(-s->gamma * k[j]);
        } else { /* dot products, then the kernel */
            for (int d = 0; d < D; d++, col += s->n_sv)
                for (int j = 0; j < cnt; j++) k[j] += x[d] * col[j];
        }
        if (s->kernel == NAS_SVM_POLY)
            for (int j = 0; j < cnt; j++) k[j] = pow(s->gamma * k[j] + s->coef0, s->degree);
        for (int j = 0; j < cnt; j++) dec += s->coef[j0 + j] * k[j];
    }
    return dec > 0 ? s->label_pos : s->label_neg;
}

int nas_svm_predict_libsvm(const nas_svm *s, const double *x) {
    struct svm_node *row = malloc(sizeof *row * (size_t)(s->dims + 1));
    if (!row) return -1;
    for (int d = 0; d < s->dims; d++) {
        row[d].index = d + 1;
        row[d].value = x[d];
    }
    row[s->dims].index = -1;
    int label = (int)svm_predict(s->model, row);
    free(row);
    return label;
}
