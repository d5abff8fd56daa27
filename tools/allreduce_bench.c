// MPI_Allreduce (sum, float32) time by message size on this machine, for docs/distributed.md's cost model.
// Build and run: mpicc -O2 -o /tmp/allreduce_bench tools/allreduce_bench.c &&
//   mpirun --allow-run-as-root --oversubscribe -np 2 /tmp/allreduce_bench
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int counts[] = {1, 1024, 65536, 262144, 1048576, 4194304};
    for (unsigned c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int n = counts[c], reps = n >= 1048576 ? 10 : 50;
        float *buf = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) buf[i] = 1.0f;
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int r = 0; r < reps; r++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t = (MPI_Wtime() - t0) / reps;
        if (rank == 0)
            printf("ranks %d  floats %8d  bytes %9zu  %.3f ms  algorithm bandwidth %.2f GB/s\n", size, n,
                   sizeof(float) * (size_t)n, t * 1e3, sizeof(float) * (double)n / t / 1e9);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
