/*-------------------------------------------------------------------------
 *
 * jsonread.c
 *	  JSON text read from a backup dir (manifests, metadata files, restore
 *	  plans) parsed into jsonb in working memory of about the result's size.
 *
 * jsonb_in builds a tree of JsonbValues of the whole text, then encodes
 * it: about 17 times the text's size (150 MB for the 8.7 MB manifest of a
 * table of 10,000 partitions).  Here each array and object is encoded
 * into jsonb's binary form as soon as the parser leaves it, so that only
 * the open containers' members are ever unencoded.  The encoding is
 * jsonb_util.c's convertJsonbValue (utils/jsonb.h describes it): a
 * container is its header, a JEntry per member (every JB_OFFSET_STRIDE'th
 * holding an end offset, the others a length) and the members' data, a
 * numeric or a container padded to a 4-byte boundary; an object's keys
 * first, ordered by length then bytes, a repeated key taking its last
 * value -- so the result is the jsonb jsonb_in makes of the same text.
 *
 * A reader may also leave members out (pb_parse_json_pruned): they are
 * parsed (the text must be valid JSON) but not kept.  Two objects are
 * joined the same way (pb_jsonb_concat_objects), their members copied as
 * they are encoded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "compat.h"
#include "gate.h"
#include "partback.h"

PG_FUNCTION_INFO_V1(partback_concat_objects);

/* A member of an open container: a scalar, or a container already encoded */
typedef struct Member
{
	const char *key;			/* objects only */
	int			keylen;
	int			order;			/* which came first of equal keys */
	uint32		type;			/* JENTRY_IS... */
	const char *data;			/* string bytes, numeric, encoded container */
	int			len;
} Member;

/* a container's members must fit one allocation and its header's count */
#define MAX_MEMBERS ((int) Min(MaxAllocSize / sizeof(Member), JB_CMASK))

typedef struct Container
{
	bool		is_object;
	bool		is_raw_scalar;	/* the text is a scalar (jsonb's one-element array) */
	int			nmembers;
	int			capacity;
	Member	   *members;
	const char *key;			/* an object's member being read */
	int			keylen;
	struct Container *outer;
} Container;

typedef struct ReadState
{
	Container  *open;			/* innermost open container */
	Jsonb	   *result;			/* the encoded top value */
	MemoryContext result_context;
	/* leaving members out */
	PbJsonKeep	keep;
	int			depth;
	int			skip_depth;		/* > 0: in a member left out of the object at this depth */
	const char *member[PB_PRUNE_DEPTHS];	/* the member being read, by depth */
} ReadState;

static int
member_key_cmp(const void *a, const void *b)
{
	const Member *ma = a;
	const Member *mb = b;

	if (ma->keylen != mb->keylen)
		return ma->keylen < mb->keylen ? -1 : 1;
	if (ma->keylen > 0)
	{
		int			c = memcmp(ma->key, mb->key, ma->keylen);

		if (c != 0)
			return c;
	}
	/* the later of equal keys first: it is the one kept */
	if (ma->order != mb->order)
		return ma->order > mb->order ? -1 : 1;
	return 0;
}

/* A container being encoded, in a buffer allocated to its size */
typedef struct Encoded
{
	char	   *data;
	int			len;
	int			data_start;		/* where the members' data begins */
} Encoded;

/*
 * Append m's data to out and write its JEntry at *entry; *total is the
 * data's length so far (an end offset every JB_OFFSET_STRIDE'th member,
 * index i).
 */
static void
append_member(Encoded *out, const Member *m, int i, JEntry *entry, int *total)
{
	int			before = out->len;
	int			len;

	if (m->type == JENTRY_ISNUMERIC || m->type == JENTRY_ISCONTAINER)
	{
		/* aligned from the data's start, which is itself aligned */
		int			at = out->len - out->data_start;

		memset(out->data + out->len, 0, INTALIGN(at) - at);
		out->len += INTALIGN(at) - at;
	}
	if (m->len > 0)
		memcpy(out->data + out->len, m->data, m->len);
	out->len += m->len;
	len = out->len - before;
	*total += len;
	if (*total > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	if (i % JB_OFFSET_STRIDE == 0)
		*entry = m->type | JENTRY_HAS_OFF | *total;
	else
		*entry = m->type | len;
}

/*
 * c encoded into out (after prefix bytes, left for the caller).
 */
static void
encode_container(Container *c, Encoded *out, int prefix)
{
	int			n = c->nmembers;
	int			nentries = c->is_object ? 2 * n : n;
	int			entries_at;
	int			total = 0;
	uint32		header;
	Size		data_len = 0;
	Size		size;

	if (c->is_object && n > 1)
	{
		int			kept = 1;

		qsort(c->members, n, sizeof(Member), member_key_cmp);
		for (int i = 1; i < n; i++)
		{
			Member	   *prev = &c->members[kept - 1];
			Member	   *m = &c->members[i];

			if (m->keylen == prev->keylen && memcmp(m->key, prev->key, m->keylen) == 0)
				continue;
			c->members[kept++] = *m;
		}
		n = c->nmembers = kept;
		nentries = 2 * n;
	}
	/* one allocation: the members' data, each with at most 3 bytes of padding */
	for (int i = 0; i < n; i++)
		data_len += c->members[i].keylen + c->members[i].len + 3;
	size = prefix + sizeof(uint32) + nentries * sizeof(JEntry) + data_len;
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	out->data = palloc(size);
	header = n | (c->is_object ? JB_FOBJECT : JB_FARRAY) |
		(c->is_raw_scalar ? JB_FSCALAR : 0);
	memcpy(out->data + prefix, &header, sizeof(header));
	entries_at = prefix + sizeof(header);
	out->len = out->data_start = entries_at + nentries * sizeof(JEntry);

	if (c->is_object)
	{
		for (int i = 0; i < n; i++)
		{
			Member		key = {.type = JENTRY_ISSTRING,.data = c->members[i].key,
			.len = c->members[i].keylen};
			JEntry		entry;

			append_member(out, &key, i, &entry, &total);
			memcpy(out->data + entries_at + i * sizeof(JEntry), &entry, sizeof(JEntry));
		}
	}
	for (int i = 0; i < n; i++)
	{
		int			index = c->is_object ? i + n : i;
		JEntry		entry;

		append_member(out, &c->members[i], index, &entry, &total);
		memcpy(out->data + entries_at + index * sizeof(JEntry), &entry, sizeof(JEntry));
	}
}

/* Add a member to c (to an object's under c->key) */
static void
add_member(Container *c, uint32 type, const char *data, int len)
{
	Member	   *m;

	if (c->nmembers >= MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb object pairs or array elements exceeds the maximum allowed (%zu)",
						(Size) MAX_MEMBERS)));
	if (c->nmembers == c->capacity)
	{
		c->capacity = c->capacity == 0 ? 8 : Min(c->capacity * 2, MAX_MEMBERS);
		c->members = c->members == NULL ?
			palloc(c->capacity * sizeof(Member)) :
			repalloc(c->members, c->capacity * sizeof(Member));
	}
	m = &c->members[c->nmembers];
	m->order = c->nmembers++;
	m->key = c->key;
	m->keylen = c->keylen;
	m->type = type;
	m->data = data;
	m->len = len;
	c->key = NULL;
	c->keylen = 0;
}

static void
open_container(ReadState *st, bool is_object, bool is_raw_scalar)
{
	Container  *c = palloc0(sizeof(Container));

	c->is_object = is_object;
	c->is_raw_scalar = is_raw_scalar;
	c->outer = st->open;
	st->open = c;
}

/* c encoded as a Jsonb, in context */
static Jsonb *
container_jsonb(Container *c, MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	Encoded		out;

	encode_container(c, &out, VARHDRSZ);
	MemoryContextSwitchTo(old);
	SET_VARSIZE(out.data, out.len);
	return (Jsonb *) out.data;
}

/* Free c and what it holds */
static void
free_container(Container *c)
{
	for (int i = 0; i < c->nmembers; i++)
	{
		if (c->members[i].data)
			pfree((void *) c->members[i].data);
		if (c->members[i].key)
			pfree((void *) c->members[i].key);
	}
	if (c->members)
		pfree(c->members);
	pfree(c);
}

/* Encode the innermost container into its outer one, or as the result */
static void
close_container(ReadState *st)
{
	Container  *c = st->open;

	st->open = c->outer;
	if (st->open == NULL)
		st->result = container_jsonb(c, st->result_context);
	else
	{
		Encoded		out;

		encode_container(c, &out, 0);
		add_member(st->open, JENTRY_ISCONTAINER, out.data, out.len);
	}
	/* the members' strings and containers were copied */
	free_container(c);
}

/* An array or object begins: a container, unless in a member left out */
static void
start_container(ReadState *st, bool is_object)
{
	st->depth++;
	if (st->skip_depth == 0)
		open_container(st, is_object, false);
}

static PB_JSON_ACTION
read_object_start(void *state)
{
	start_container(state, true);
	PB_JSON_ACTION_DONE;
}

static PB_JSON_ACTION
read_array_start(void *state)
{
	start_container(state, false);
	PB_JSON_ACTION_DONE;
}

static PB_JSON_ACTION
read_container_end(void *state)
{
	ReadState  *st = state;

	st->depth--;
	if (st->skip_depth == 0)
		close_container(st);
	PB_JSON_ACTION_DONE;
}

static PB_JSON_ACTION
read_field_start(void *state, char *fname, bool isnull)
{
	ReadState  *st = state;

	if (st->skip_depth > 0)
		PB_JSON_ACTION_DONE;
	if (st->depth < PB_PRUNE_DEPTHS)
		st->member[st->depth] = fname;
	if (st->keep && !st->keep(st->depth, st->member, fname))
	{
		st->skip_depth = st->depth;
		PB_JSON_ACTION_DONE;
	}
	st->open->keylen = strlen(fname);
	if (st->open->keylen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("string too long to represent as jsonb string")));
	/* a copy: the parser frees its own at the field's end */
	st->open->key = pstrdup(fname);
	PB_JSON_ACTION_DONE;
}

static PB_JSON_ACTION
read_field_end(void *state, char *fname, bool isnull)
{
	ReadState  *st = state;

	if (st->skip_depth == st->depth)
		st->skip_depth = 0;
	if (st->depth < PB_PRUNE_DEPTHS && st->member[st->depth] == fname)
		st->member[st->depth] = NULL;
	pfree(fname);
	PB_JSON_ACTION_DONE;
}

static PB_JSON_ACTION
read_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ReadState  *st = state;
	bool		top = (st->open == NULL);

	if (st->skip_depth > 0)
	{
		pfree(token);
		PB_JSON_ACTION_DONE;
	}
	if (top)
		open_container(st, false, true);
	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			if (strlen(token) > JENTRY_OFFLENMASK)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("string too long to represent as jsonb string")));
			add_member(st->open, JENTRY_ISSTRING, token, strlen(token));
			break;
		case JSON_TOKEN_NUMBER:
			{
				Numeric		num = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																	  CStringGetDatum(token),
																	  ObjectIdGetDatum(InvalidOid),
																	  Int32GetDatum(-1)));

				pfree(token);
				add_member(st->open, JENTRY_ISNUMERIC, (char *) num, VARSIZE_ANY(num));
				break;
			}
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
		case JSON_TOKEN_NULL:
			pfree(token);
			add_member(st->open, tokentype == JSON_TOKEN_TRUE ? JENTRY_ISBOOL_TRUE :
					   tokentype == JSON_TOKEN_FALSE ? JENTRY_ISBOOL_FALSE : JENTRY_ISNULL,
					   NULL, 0);
			break;
		default:
			elog(ERROR, "partback: unexpected JSON token type %d", (int) tokentype);
	}
	if (top)
		close_container(st);
	PB_JSON_ACTION_DONE;
}

/*
 * JSON text parsed into a jsonb with only the members keep(depth, members,
 * name) keeps (all of them without keep): a member name of an object at
 * depth (the top object's is 1), inside members[1 .. depth - 1] (the
 * members being read at the depths above, NULL where a depth is an array;
 * known to PB_PRUNE_DEPTHS).  Text that is not JSON is NULL, with
 * *error_detail saying why.
 */
static Jsonb *
read_json(const char *text, PbJsonKeep keep, char **error_detail)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(outer, "partback JSON parse",
												  ALLOCSET_DEFAULT_SIZES);
	JsonLexContext *lex;
	JsonParseErrorType err;
	JsonSemAction sem;
	ReadState	st;

	memset(&st, 0, sizeof(st));
	st.keep = keep;
	st.result_context = outer;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_start = read_object_start;
	sem.object_end = read_container_end;
	sem.array_start = read_array_start;
	sem.array_end = read_container_end;
	sem.object_field_start = read_field_start;
	sem.object_field_end = read_field_end;
	sem.scalar = read_scalar;

	MemoryContextSwitchTo(scratch);
	lex = pb_json_lexer(text, strlen(text), GetDatabaseEncoding());
	err = pg_parse_json(lex, &sem);
	MemoryContextSwitchTo(outer);
	if (err != JSON_SUCCESS)
		*error_detail = pstrdup(json_errdetail(err, lex));
	MemoryContextDelete(scratch);
	Assert(err != JSON_SUCCESS || st.result != NULL);
	return err == JSON_SUCCESS ? st.result : NULL;
}

/*
 * JSON text read from file "what" parsed as read_json does; damage is
 * ERRCODE_DATA_CORRUPTED.
 */
Jsonb *
pb_parse_json_pruned(const char *text, const char *what, PbJsonKeep keep)
{
	char	   *detail;
	Jsonb	   *result = read_json(text, keep, &detail);

	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup file \"%s\" does not parse as JSON", what),
				 errdetail("%s", detail)));
	return result;
}

/* pb_parse_json_pruned, NULL for text that is not JSON */
Jsonb *
pb_try_parse_json_pruned(const char *text, PbJsonKeep keep)
{
	char	   *detail;

	return read_json(text, keep, &detail);
}

/*
 * JSON text read from file "what" parsed into a jsonb; damage is
 * ERRCODE_DATA_CORRUPTED.
 */
Jsonb *
pb_parse_json(const char *text, const char *what)
{
	return pb_parse_json_pruned(text, what, NULL);
}

/*
 * a || b for jsonb objects a and b, each member of either taken as it is
 * encoded: jsonb's || decodes both whole, to tens of times their size for
 * the manifest entry of a table of many partitions.
 */
Jsonb *
pb_jsonb_concat_objects(Jsonb *a, Jsonb *b)
{
	Container	c;
	Jsonb	   *result;

	memset(&c, 0, sizeof(c));
	c.is_object = true;
	for (int side = 0; side < 2; side++)
	{
		Jsonb	   *jb = side == 0 ? a : b;
		JsonbIterator *it;
		JsonbIteratorToken tok;
		JsonbValue	v;

		if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("_concat_objects takes two jsonb objects")));
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				c.key = v.val.string.val;
				c.keylen = v.val.string.len;
			}
			else if (tok == WJB_VALUE)
			{
				switch (v.type)
				{
					case jbvString:
						add_member(&c, JENTRY_ISSTRING, v.val.string.val, v.val.string.len);
						break;
					case jbvNumeric:
						add_member(&c, JENTRY_ISNUMERIC, (char *) v.val.numeric,
								   VARSIZE_ANY(v.val.numeric));
						break;
					case jbvBool:
						add_member(&c, v.val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE,
								   NULL, 0);
						break;
					case jbvNull:
						add_member(&c, JENTRY_ISNULL, NULL, 0);
						break;
					case jbvBinary:
						add_member(&c, JENTRY_ISCONTAINER, (char *) v.val.binary.data,
								   v.val.binary.len);
						break;
					default:
						elog(ERROR, "partback: unexpected jsonb value type %d", (int) v.type);
				}
			}
		}
	}
	result = container_jsonb(&c, CurrentMemoryContext);
	if (c.members)
		pfree(c.members);
	return result;
}

/* _concat_objects(a jsonb, b jsonb): a || b of two objects (see above) */
Datum
partback_concat_objects(PG_FUNCTION_ARGS)
{
	pb_gate_check_call(fcinfo);
	PG_RETURN_JSONB_P(pb_jsonb_concat_objects(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1)));
}
