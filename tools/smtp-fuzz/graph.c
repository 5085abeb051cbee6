/*
 * graph.c - the state graph inferred from replies.  A state is the key
 * exec.c builds (command, reply code, enhanced code, capabilities, TLS,
 * AUTH); a multi-line reply is one state.  Nodes and edges live in
 * open-addressing tables of fixed capacity (FZ_MAX_NODES/EDGES): when
 * full, new states are no longer counted, never reallocated.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"

struct node {
	uint64_t	h;		/* 0: free */
	char		key[FZ_KEY_LEN];
	uint64_t	hits;
	uint32_t	outdeg;
};

struct edge {
	uint64_t	h;		/* of (from, to); 0: free */
	uint32_t	from, to;	/* node slots */
	uint64_t	hits;
};

struct fz_graph {
	struct node	*nodes;
	struct edge	*edges;
	size_t		 nnodes, nedges;
};

/* FNV-1a, never 0 (0 marks a free slot). */
uint64_t
fz_hash(const char *key)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *key != '\0'; key++)
		h = (h ^ (uint8_t)*key) * 0x100000001b3ULL;
	return (h == 0 ? 1 : h);
}

struct fz_graph *
fz_graph_new(void)
{
	struct fz_graph	*g = calloc(1, sizeof(*g));

	if (g == NULL)
		return (NULL);
	g->nodes = calloc(FZ_MAX_NODES, sizeof(*g->nodes));
	g->edges = calloc(FZ_MAX_EDGES, sizeof(*g->edges));
	if (g->nodes == NULL || g->edges == NULL) {
		fz_graph_free(g);
		return (NULL);
	}
	return (g);
}

void
fz_graph_free(struct fz_graph *g)
{
	if (g == NULL)
		return;
	free(g->nodes);
	free(g->edges);
	free(g);
}

/* The slot of h, or of the free slot where it would go; -1 if full. */
static long
node_slot(const struct fz_graph *g, uint64_t h)
{
	for (size_t i = 0; i < FZ_MAX_NODES; i++) {
		size_t k = (size_t)((h + i) % FZ_MAX_NODES);
		if (g->nodes[k].h == h || g->nodes[k].h == 0)
			return ((long)k);
	}
	return (-1);
}

static long
edge_slot(const struct fz_graph *g, uint64_t h)
{
	for (size_t i = 0; i < FZ_MAX_EDGES; i++) {
		size_t k = (size_t)((h + i) % FZ_MAX_EDGES);
		if (g->edges[k].h == h || g->edges[k].h == 0)
			return ((long)k);
	}
	return (-1);
}

/* Count a node (hits times); returns its slot, -1 if the table is full. */
static long
node_add(struct fz_graph *g, const char *key, uint64_t hits, int *is_new)
{
	uint64_t	h = fz_hash(key);
	long		k;

	/* Keep the table at most 3/4 full so probes stay short. */
	if ((k = node_slot(g, h)) < 0 || (g->nodes[k].h == 0 &&
	    g->nnodes >= FZ_MAX_NODES / 4 * 3))
		return (-1);
	if (g->nodes[k].h == 0) {
		g->nodes[k].h = h;
		snprintf(g->nodes[k].key, FZ_KEY_LEN, "%s", key);
		g->nnodes++;
		*is_new = 1;
	}
	g->nodes[k].hits += hits;
	return (k);
}

static int
edge_add(struct fz_graph *g, long from, long to, uint64_t hits)
{
	uint64_t	h = (g->nodes[from].h * 31 + g->nodes[to].h) | 1;
	long		k;

	if ((k = edge_slot(g, h)) < 0 || (g->edges[k].h == 0 &&
	    g->nedges >= FZ_MAX_EDGES / 4 * 3))
		return (0);
	g->edges[k].hits += hits;
	if (g->edges[k].h != 0)
		return (0);
	g->edges[k].h = h;
	g->edges[k].from = (uint32_t)from;
	g->edges[k].to = (uint32_t)to;
	g->nodes[from].outdeg++;
	g->nedges++;
	return (1);
}

size_t
fz_graph_add(struct fz_graph *g, const struct fz_result *res)
{
	size_t	fresh = 0;
	long	prev = -1, k;

	for (size_t i = 0; i < res->npath; i++) {
		int is_new = 0;
		if ((k = node_add(g, res->path[i], 1, &is_new)) < 0)
			break;
		fresh += (size_t)is_new;
		if (prev >= 0)
			fresh += (size_t)edge_add(g, prev, k, 1);
		prev = k;
	}
	return (fresh);
}

/*
 * Rare states weigh more (1 / hits each), and so does a last state
 * with few explored ways out: untried transitions get the attention.
 */
double
fz_graph_weight(const struct fz_graph *g, const uint64_t *h, size_t n)
{
	double	w = 0.0;
	long	k = -1;

	for (size_t i = 0; i < n; i++) {
		k = node_slot(g, h[i]);
		if (k >= 0 && g->nodes[k].h == h[i])
			w += 1.0 / (double)(g->nodes[k].hits + 1);
	}
	if (k >= 0 && n > 0 && g->nodes[k].h == h[n - 1])
		w += 4.0 / (double)(g->nodes[k].outdeg + 1);
	return (w);
}

size_t
fz_graph_nstates(const struct fz_graph *g)
{
	return (g->nnodes);
}

size_t
fz_graph_nedges(const struct fz_graph *g)
{
	return (g->nedges);
}

static void
dot_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int
write_dot(const struct fz_graph *g, const char *path)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL)
		return (-1);
	fprintf(f, "digraph smtp {\n\trankdir=LR;\n\tnode [shape=box];\n");
	for (size_t i = 0; i < FZ_MAX_NODES; i++)
		if (g->nodes[i].h != 0) {
			fprintf(f, "\tn%zu [label=", i);
			dot_quote(f, g->nodes[i].key);
			fprintf(f, "];\n");
		}
	for (size_t i = 0; i < FZ_MAX_EDGES; i++)
		if (g->edges[i].h != 0)
			fprintf(f, "\tn%u -> n%u [label=\"%llu\"];\n",
			    g->edges[i].from, g->edges[i].to,
			    (unsigned long long)g->edges[i].hits);
	fprintf(f, "}\n");
	return (fclose(f) == 0 ? 0 : -1);
}

static int
write_json(const struct fz_graph *g, const char *path)
{
	json_object	*root = json_object_new_object();
	json_object	*nodes = json_object_new_array();
	json_object	*edges = json_object_new_array();
	int		 rc;

	for (size_t i = 0; i < FZ_MAX_NODES; i++) {
		if (g->nodes[i].h == 0)
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "key",
		    json_object_new_string(g->nodes[i].key));
		json_object_object_add(o, "hits",
		    json_object_new_int64((int64_t)g->nodes[i].hits));
		json_object_array_add(nodes, o);
	}
	for (size_t i = 0; i < FZ_MAX_EDGES; i++) {
		if (g->edges[i].h == 0)
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "from", json_object_new_string(
		    g->nodes[g->edges[i].from].key));
		json_object_object_add(o, "to", json_object_new_string(
		    g->nodes[g->edges[i].to].key));
		json_object_object_add(o, "hits",
		    json_object_new_int64((int64_t)g->edges[i].hits));
		json_object_array_add(edges, o);
	}
	json_object_object_add(root, "states", nodes);
	json_object_object_add(root, "transitions", edges);
	rc = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY);
	json_object_put(root);
	return (rc == 0 ? 0 : -1);
}

int
fz_graph_write(const struct fz_graph *g, const char *dot, const char *json)
{
	return (write_dot(g, dot) == 0 && write_json(g, json) == 0 ? 0 : -1);
}

/* Resume: read back what write_json wrote. */
int
fz_graph_load(struct fz_graph *g, const char *path)
{
	json_object	*root = json_object_from_file(path), *a, *o, *v;
	int		 dummy;

	if (root == NULL)
		return (-1);
	if (json_object_object_get_ex(root, "states", &a))
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			o = json_object_array_get_idx(a, i);
			if (json_object_object_get_ex(o, "key", &v))
				(void)node_add(g, json_object_get_string(v),
				    json_object_object_get_ex(o, "hits", &o) ?
				    (uint64_t)json_object_get_int64(o) : 1,
				    &dummy);
		}
	if (json_object_object_get_ex(root, "transitions", &a))
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *f, *t, *hh;
			o = json_object_array_get_idx(a, i);
			if (!json_object_object_get_ex(o, "from", &f) ||
			    !json_object_object_get_ex(o, "to", &t))
				continue;
			long kf = node_add(g, json_object_get_string(f), 0,
			    &dummy);
			long kt = node_add(g, json_object_get_string(t), 0,
			    &dummy);
			if (kf >= 0 && kt >= 0)
				(void)edge_add(g, kf, kt,
				    json_object_object_get_ex(o, "hits", &hh) ?
				    (uint64_t)json_object_get_int64(hh) : 1);
		}
	json_object_put(root);
	return (0);
}
