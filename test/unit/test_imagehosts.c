/* test_imagehosts.c - containerd's hosts.toml written for the mirror: the
 * user's file kept as a backup and put back by remove, a rewrite never
 * touching the backup, another's file never lost, bad registry names
 * refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "imagehosts.h"

static char *slurp (const char *path)
{
    static char buf[4096];
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    return buf;
}

static void spit (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    fputs (text, f);
    fclose (f);
}

int main (void)
{
    char root[] = "/tmp/canopy-test-hosts-XXXXXX";
    if (!mkdtemp (root))
        return 1;
    char cp[512], dir[600], file[700], bak[700], out[800], err[512], what[900];
    snprintf (cp, sizeof cp, "%s/certs.d", root);
    snprintf (dir, sizeof dir, "%s/reg.example:5000", cp);
    snprintf (file, sizeof file, "%s/hosts.toml", dir);
    snprintf (bak, sizeof bak, "%s/hosts.toml.canopy-backup", dir);

    ok (imagehosts_write (cp, "reg.example:5000", "http://10.0.0.5:5050", 0, out, sizeof out, err, sizeof err) == 0
            && !strcmp (out, file),
        "written where containerd looks (config path created)");
    char *t = slurp (file);
    ok (t && strstr (t, "server = \"https://reg.example:5000\"") && strstr (t, "[host.\"http://10.0.0.5:5050\"]")
            && strstr (t, "capabilities = [\"pull\", \"resolve\"]"),
        "server, mirror host and capabilities");
    ok (access (bak, F_OK) < 0, "no backup when there was no file");
    ok (imagehosts_remove (cp, "reg.example:5000", what, sizeof what, err, sizeof err) == 0 && access (file, F_OK) < 0
            && strstr (what, "removed"),
        "remove deletes canopy's own file");

    spit (file, "server = \"https://mine\"\n");
    ok (imagehosts_write (cp, "reg.example:5000", "http://10.0.0.5:5050", 1, out, sizeof out, err, sizeof err) == 0,
        "written over the user's file");
    ok ((t = slurp (bak)) && !strcmp (t, "server = \"https://mine\"\n"), "the user's file is the backup");
    ok ((t = slurp (file)) && strstr (t, "server = \"http://reg.example:5000\""), "--plain-http: http:// server");
    ok (imagehosts_write (cp, "reg.example:5000", "http://10.0.0.6:5050", 0, out, sizeof out, err, sizeof err) == 0
            && (t = slurp (bak)) && !strcmp (t, "server = \"https://mine\"\n"),
        "a rewrite of canopy's file leaves the backup alone");
    ok (imagehosts_remove (cp, "reg.example:5000", what, sizeof what, err, sizeof err) == 0
            && (t = slurp (file)) && !strcmp (t, "server = \"https://mine\"\n") && access (bak, F_OK) < 0,
        "remove puts the user's file back");
    ok (imagehosts_remove (cp, "reg.example:5000", what, sizeof what, err, sizeof err) == 0
            && (t = slurp (file)) && !strcmp (t, "server = \"https://mine\"\n") && strstr (what, "left alone"),
        "remove leaves a file canopy did not write");
    spit (bak, "an old backup\n");
    ok (imagehosts_write (cp, "reg.example:5000", "http://10.0.0.5:5050", 0, out, sizeof out, err, sizeof err) < 0
            && strstr (err, "already exists") && (t = slurp (file)) && !strcmp (t, "server = \"https://mine\"\n")
            && (t = slurp (bak)) && !strcmp (t, "an old backup\n"),
        "the user's file and an old backup: refused, both kept (%s)", err);
    const char *bad[] = { "", "..", "a/b", "../etc", ".hidden", "a b", "x\ny" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok (imagehosts_write (cp, bad[i], "http://1.2.3.4:1", 0, out, sizeof out, err, sizeof err) < 0
                && strstr (err, "invalid registry name"),
            "registry name %zu refused", i);
    ok (imagehosts_write ("relative/dir", "docker.io", "http://1.2.3.4:1", 0, out, sizeof out, err, sizeof err) < 0
            && strstr (err, "absolute"),
        "a relative config path refused");
    ok (imagehosts_write (cp, "docker.io", "http://1.2.3.4:1", 0, out, sizeof out, err, sizeof err) == 0
            && (t = slurp (out)) && strstr (t, "server = \"https://registry-1.docker.io\""),
        "docker.io's server is registry-1.docker.io");
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    if (system (cmd)) {
    }
    return done ();
}
