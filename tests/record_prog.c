#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
static char *shared;
static void *worker(void *arg) { for (int i = 0; i < 4 * 4096; i += 64) shared[i]++; return arg; }
int main(int argc, char **argv) {
    int fd = open(argc > 1 ? argv[1] : "data.bin", O_RDWR | O_CREAT, 0644);
    ftruncate(fd, 4 * 4096);
    shared = mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(shared, 1, 4 * 4096);
    char *anon = mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    anon[0] = 1;
    anon = mremap(anon, 2 * 4096, 64 * 4096, MREMAP_MAYMOVE);
    memset(anon, 2, 64 * 4096);
    char *ro = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(ro, 4096, PROT_READ | PROT_WRITE);
    ro[5] = 3;
    pid_t c = fork();
    if (c == 0) { for (int i = 0; i < 4 * 4096; i += 128) shared[i] = 7; anon[100] = 9; _exit(0); }
    pthread_t t; pthread_create(&t, 0, worker, 0); pthread_join(t, 0);
    waitpid(c, 0, 0);
    munmap(shared, 4 * 4096);
    char *heap = malloc(1 << 20); memset(heap, 5, 1 << 20); free(heap);
    return 0;
}
