#include <cblas.h>
// OpenBLAS extensions (declared in its cblas.h, repeated here so the intent is visible):
// openblas_get_corename() names the kernels in use; openblas_set_num_threads() sets the BLAS threads.
