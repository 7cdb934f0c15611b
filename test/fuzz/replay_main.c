/* replay_main.c - run a fuzz target over every file of a corpus directory,
 * so fuzz seeds (and past crashers) are regression tests without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int main (int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir (argv[i]);
        if (!d) {
            fprintf (stderr, "replay: %s: cannot open\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir (d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", argv[i], e->d_name);
            FILE *f = fopen (path, "rb");
            if (!f)
                continue;
            fseek (f, 0, SEEK_END);
            long len = ftell (f);
            rewind (f);
            uint8_t *buf = malloc (len ? len : 1);
            if (fread (buf, 1, len, f) != (size_t)len) { fclose (f); free (buf); continue; }
            fclose (f);
            LLVMFuzzerTestOneInput (buf, len);
            free (buf);
            n++;
        }
        closedir (d);
    }
    printf ("replayed %d inputs\n", n);
    return n > 0 ? 0 : 1;
}
