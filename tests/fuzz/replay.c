/*
 * replay.c - runs a fuzz target over saved inputs, without libFuzzer.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: replay_TARGET DIR...: calls LLVMFuzzerTestOneInput() once per
 * file of each directory (in name order) with the file's bytes in a heap
 * block of exactly their size, and prints TAP: one "ok" per directory with
 * its file count. A failed check aborts the process, so the name of each
 * file is written to standard error before it runs: the last one named is
 * the culprit.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads a whole regular file; returns 0, or -errno. */
static int slurp(const char *path, uint8_t **data, size_t *size)
{
  FILE *f = fopen(path, "rb");
  struct stat st;
  int rc = 0;

  *data = NULL;
  if (!f)
    return -errno;
  if (fstat(fileno(f), &st) != 0)
    rc = -errno;
  else if (!S_ISREG(st.st_mode))
    rc = -EINVAL;
  else if ((*data = malloc(st.st_size ? (size_t)st.st_size : 1)) == NULL)
    rc = -ENOMEM;
  else if ((*size = fread(*data, 1, (size_t)st.st_size, f)) !=
           (size_t)st.st_size)
    rc = -EIO;
  fclose(f);
  if (rc != 0)
    free(*data);
  return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *e)
{
  return e->d_name[0] != '.';
}

/* Runs every file of dir; returns the count, or -errno. */
static int replay_dir(const char *dir)
{
  struct dirent **names;
  int n = scandir(dir, &names, skip_dots, by_name), count = 0, rc = 0;

  if (n < 0)
    return -errno;
  for (int i = 0; i < n; i++) {
    char path[4096];
    uint8_t *data;
    size_t size = 0;

    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    free(names[i]);
    if (rc != 0)
      continue;
    if ((rc = slurp(path, &data, &size)) != 0) {
      fprintf(stderr, "replay: %s: %s\n", path, strerror(-rc));
      continue;
    }
    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    count++;
  }
  free(names);
  return rc != 0 ? rc : count;
}

int main(int argc, char **argv)
{
  int failed = 0;

  for (int i = 1; i < argc; i++) {
    int n = replay_dir(argv[i]);
    if (n > 0) {
      printf("ok %d - %s: %d files\n", i, argv[i], n);
    } else {
      printf("not ok %d - %s: %s\n", i, argv[i],
             n < 0 ? strerror(-n) : "no files");
      failed++;
    }
    fflush(stdout);
  }
  printf("1..%d\n", argc - 1);
  return failed != 0;
}
