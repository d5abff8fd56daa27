// The MPI C API's types and constants (Open MPI, Debian `libopenmpi-dev`). No `link` line: the Distributed target
// loads libmpi with dlopen only when the process was started by `mpirun`, so nothing else needs the library at run
// time. Debian installs mpi.h under the multiarch include directory's `mpi/` (an alternatives link to Open MPI's).
#if __has_include(<mpi/mpi.h>)
#include <mpi/mpi.h>
#else
#include <mpi.h>
#endif
