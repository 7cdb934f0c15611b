/* test_yaml_json.c - YAML/JSON text to jansson: scalar typing, quoting,
 * structure, key order, and the refusals (anchors, aliases, duplicate keys,
 * deep nesting, syntax errors, trailing junk) with line:column messages. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "yaml_json.h"

static json_t *parse (const char *text, char *err, size_t errlen)
{
    return yaml_json_parse (text, strlen (text), err, errlen);
}

/* parse "v: <scalar>" and compare the compact JSON dump of v */
static void scalar_is (const char *yaml_scalar, const char *want_json)
{
    char text[256], err[200] = "";
    snprintf (text, sizeof text, "v: %s\n", yaml_scalar);
    json_t *o = parse (text, err, sizeof err);
    json_t *v = o ? json_object_get (o, "v") : NULL;
    char *got = v ? json_dumps (v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    ok (got && !strcmp (got, want_json), "scalar %s -> %s (got %s%s)", yaml_scalar, want_json,
        got ? got : "NULL ", got ? "" : err);
    free (got);
    json_decref (o);
}

/* parse must fail with an error containing each of the substrings */
static void refused (const char *text, const char *sub1, const char *sub2, const char *what)
{
    char err[200] = "";
    json_t *j = parse (text, err, sizeof err);
    ok (j == NULL && strstr (err, sub1) && (!sub2 || strstr (err, sub2)) && !strchr (err, '\n'),
        "%s refused: %s", what, err);
    json_decref (j);
}

static void dumps_as (const char *text, const char *want, const char *what)
{
    char err[200] = "";
    json_t *j = parse (text, err, sizeof err);
    char *got = j ? json_dumps (j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    ok (got && !strcmp (got, want), "%s: %s", what, got ? got : err);
    free (got);
    json_decref (j);
}

int main (void)
{
    /* plain scalars are typed */
    scalar_is ("1", "1");
    scalar_is ("-42", "-42");
    scalar_is ("+5", "5");
    scalar_is ("0", "0");
    scalar_is ("9223372036854775807", "9223372036854775807");
    scalar_is ("1.5", "1.5");
    scalar_is ("-0.25", "-0.25");
    scalar_is ("1e3", "1000.0");
    scalar_is ("2.5E-1", "0.25");
    scalar_is (".5", "0.5");
    scalar_is ("true", "true");
    scalar_is ("True", "true");
    scalar_is ("TRUE", "true");
    scalar_is ("false", "false");
    scalar_is ("False", "false");
    scalar_is ("null", "null");
    scalar_is ("Null", "null");
    scalar_is ("~", "null");
    scalar_is ("", "null");
    /* ...but only those forms */
    scalar_is ("yes", "\"yes\"");
    scalar_is ("on", "\"on\"");
    scalar_is ("tRUE", "\"tRUE\"");
    scalar_is ("nULL", "\"nULL\"");
    scalar_is ("0x10", "\"0x10\"");
    scalar_is ("0o17", "\"0o17\"");
    scalar_is ("1_000", "\"1_000\"");
    scalar_is ("1e", "\"1e\"");
    scalar_is (".inf", "\".inf\"");
    scalar_is ("nan", "\"nan\"");
    scalar_is ("1.2.3", "\"1.2.3\"");
    scalar_is ("12abc", "\"12abc\"");
    scalar_is ("tcp://*:8050", "\"tcp://*:8050\"");
    scalar_is ("node[0-3]", "\"node[0-3]\"");
    /* quoted scalars always stay strings */
    scalar_is ("'5'", "\"5\"");
    scalar_is ("\"5\"", "\"5\"");
    scalar_is ("\"1.5\"", "\"1.5\"");
    scalar_is ("'true'", "\"true\"");
    scalar_is ("\"null\"", "\"null\"");
    scalar_is ("''", "\"\"");
    scalar_is ("\"\"", "\"\"");
    scalar_is ("!!str 5", "\"5\"");
    /* escapes and unicode */
    scalar_is ("\"a\\tb\"", "\"a\\tb\"");
    scalar_is ("\"\\u00e9t\\u00e9\"", "\"\xc3\xa9t\xc3\xa9\"");
    scalar_is ("h\xc3\xa9llo", "\"h\xc3\xa9llo\"");

    /* structure */
    dumps_as ("a: [1, two, 3.0]\nb: {c: null, d: [true]}\n",
              "{\"a\":[1,\"two\",3.0],\"b\":{\"c\":null,\"d\":[true]}}", "flow inside block");
    dumps_as ("hosts:\n  - host: n[0-3]\n    port: 9000\n  - host: login\n",
              "{\"hosts\":[{\"host\":\"n[0-3]\",\"port\":9000},{\"host\":\"login\"}]}", "block sequence of maps");
    dumps_as ("{\"z\": 1, \"a\": [1, 2.5, \"x\", null, true, false], \"m\": {}}",
              "{\"z\":1,\"a\":[1,2.5,\"x\",null,true,false],\"m\":{}}", "JSON input, key order kept");
    dumps_as ("[]", "[]", "empty list root");
    dumps_as ("- 1\n- - 2\n  - 3\n", "[1,[2,3]]", "nested block sequences");
    dumps_as ("42\n", "42", "scalar root");
    dumps_as ("'42'\n", "\"42\"", "quoted scalar root");
    dumps_as ("text: |\n  line1\n  line2\n", "{\"text\":\"line1\\nline2\\n\"}", "literal block scalar");
    dumps_as ("text: |\n  12\n", "{\"text\":\"12\\n\"}", "block scalar is never a number");
    dumps_as ("---\na: 1\n...\n", "{\"a\":1}", "explicit document markers");
    dumps_as ("a: 1\n---\nb: 2\n", "{\"a\":1}", "first document only");
    dumps_as ("# comment\na: 1 # trailing\n", "{\"a\":1}", "comments ignored");
    dumps_as ("'1': a\n\"2\": b\n3: c\n", "{\"1\":\"a\",\"2\":\"b\",\"3\":\"c\"}", "keys are text");
    {
        /* depth 64 is fine, 66 is not */
        char deep[300];
        size_t k = 0;
        for (int i = 0; i < 64; i++)
            deep[k++] = '[';
        for (int i = 0; i < 64; i++)
            deep[k++] = ']';
        deep[k] = '\0';
        char err[200] = "";
        json_t *j = parse (deep, err, sizeof err);
        ok (j != NULL, "64 nested lists accepted %s", err);
        json_decref (j);
        k = 0;
        for (int i = 0; i < 100; i++)
            deep[k++] = '[';
        for (int i = 0; i < 100; i++)
            deep[k++] = ']';
        deep[k] = '\0';
        refused (deep, "nesting too deep", "line 1", "100 nested lists");
    }
    {
        /* length is honoured: trailing bytes past len are not read */
        const char *t = "a: 1\nb: [";
        char err[200] = "";
        json_t *j = yaml_json_parse (t, 5, err, sizeof err);
        ok (j && json_integer_value (json_object_get (j, "a")) == 1 && !json_object_get (j, "b"),
            "only len bytes are parsed");
        json_decref (j);
    }

    /* refusals */
    refused ("a: &x 1\nb: *x\n", "anchors are not supported", "line 1 column 4", "scalar anchor");
    refused ("a: &m {x: 1}\n", "anchors are not supported", NULL, "mapping anchor");
    refused ("a: &s [1]\n", "anchors are not supported", NULL, "sequence anchor");
    refused ("b: *x\n", "aliases are not supported", "line 1", "alias");
    refused ("- *x\n", "aliases are not supported", NULL, "alias in a list");
    refused ("<<: *base\n", "aliases are not supported", NULL, "merge key alias");
    refused ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", "line 3 column 1", "duplicate key");
    refused ("{\"a\": 1, \"a\": 2}", "duplicate key 'a'", NULL, "JSON duplicate key");
    refused ("x:\n  k: 1\n  k: 2\n", "duplicate key 'k'", "line 3", "nested duplicate key");
    refused ("'a': 1\na: 2\n", "duplicate key 'a'", NULL, "duplicate key, one quoted");
    refused ("\"a\\nb\": 1\n\"a\\nb\": 2\n", "duplicate key", NULL, "duplicate key holding a newline");
    refused ("? [1]\n: 2\n", "mapping keys must be plain scalars", NULL, "list as key");
    refused ("{[1]: 2}", "mapping keys must be plain scalars", NULL, "flow list as key");
    refused ("", "empty document", NULL, "empty text");
    refused ("# only a comment\n", "empty document", NULL, "comment-only text");
    refused ("a: [1, 2\n", "line", NULL, "unclosed flow list");
    refused ("a: \"x\n", "line 2", NULL, "unclosed quote");
    refused ("a: 1\n- b\n", "line 2 column 1", NULL, "list item after a map");
    refused ("a:\n\tb: 1\n", "line 2", NULL, "tab indentation");
    refused ("a: \"\\q\"\n", "line 1", NULL, "bad escape");
    refused ("a: \xff\xfe\n", "line", NULL, "invalid UTF-8");
    /* a root node followed by junk is not a document */
    refused ("{\"a\": 1} }}", "line 1", NULL, "JSON object followed by junk");
    refused ("{a: 1} junk\n", "line 1", NULL, "flow map followed by junk");
    refused ("[1] ]", "line 1", NULL, "flow list followed by junk");

    /* error buffer handling */
    {
        json_t *j = yaml_json_parse ("a: *x", 5, NULL, 0);
        ok (j == NULL, "NULL error buffer tolerated");
        char small[8];
        j = yaml_json_parse ("a: *x", 5, small, sizeof small);
        ok (j == NULL && strlen (small) == sizeof small - 1, "error truncated to the buffer");
        char err[200] = "stale";
        j = parse ("a: 1", err, sizeof err);
        ok (j && err[0] == '\0', "success clears the error buffer");
        json_decref (j);
    }
    return done ();
}
