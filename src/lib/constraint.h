/* constraint.h - RFC 31 job constraints, compiled once and tested per node.
 *
 * A constraint is a JSON object with one operator: "and", "or", "not" over
 * nested terms; "ranks" (idsets), "hostlist" (hostlists) and "properties"
 * (names a node must have; "^name" one it must not have).  The scheduler's
 * feasibility check and the matcher's node test share this one reading, so
 * a jobspec's --requires means the same thing in both.
 * Pure: no I/O.
 */
#ifndef CANOPY_CONSTRAINT_H
#define CANOPY_CONSTRAINT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct constraint constraint_t;

/* The node a constraint is tested against.  has_prop may be NULL (a node
 * without properties). */
struct constraint_node {
    uint32_t rank;
    const char *hostname;
    bool (*has_prop) (const char *name, void *arg);
    void *arg;
};

/* NULL + one-line err ("invalid constraints: ...") on a malformed term. */
constraint_t *constraint_compile (const json_t *j, char *err, size_t errlen);
void constraint_destroy (constraint_t **p);
/* A NULL constraint matches every node. */
bool constraint_match (const constraint_t *c, const struct constraint_node *n);
/* The compact JSON text it was compiled from, for messages. */
const char *constraint_text (const constraint_t *c);

#endif
