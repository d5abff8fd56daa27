#include <cblas.h>
// OpenBLAS extensions (declared in OpenBLAS's cblas.h; repeated here for clarity).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// LAPACK (exported by OpenBLAS): eigenvalues and eigenvectors of a real symmetric matrix (divide and conquer).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
