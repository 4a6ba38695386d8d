/*
 * seed.c: writes a realistic, reproducible data set into MongoDB (tools/dev seed).
 *
 *	seed --orgs N [--seed S] [--drop] [--ids-out FILE] [--now YYYY-MM-DD]
 *
 * MONGODB_URI names the server and the database (default mongodb://127.0.0.1:27017/enterprise).
 *
 * Reproducible: every random choice comes from splitmix64, never rand(). Each organization
 * draws from its own stream, derived from the seed and its index, and the running numbers
 * (provider and user ids, the ObjectId counter) advance in organization order, so the same
 * seed and the same anchor day give the same documents, ids included, and the first M
 * organizations of `--orgs N` are those of `--orgs M`. Dates are spread over the three years
 * before the anchor: today 00:00 UTC, or --now for data that must not change from day to day.
 *
 * ObjectIds are made here too (bson_oid_init_from_data): 4 bytes of the document's createdAt
 * in seconds, as the driver would write them, 4 bytes drawn from the seed, and a 4-byte
 * counter that starts at a drawn value. The counter alone keeps them distinct.
 *
 * Shape of the data: tiers skewed toward the small plans (FREE 35%, BASIC 30%, PRO 25%,
 * ENTERPRISE 10%), the plan sizing the group (FREE 1-2 clinics, ENTERPRISE 8-20); mostly
 * ACTIVE organizations and clinics; a group's clinics cluster in its home state; about three
 * providers per clinic, each with 1-5 assignments inside one organization, one main role
 * plus sometimes one or two more, exactly one primary clinic among its active assignments,
 * and some older assignments already ended (isActive false, unassignedAt, version 2).
 *
 * Documents go out in unordered insert_many batches of 1000 per collection. The service's
 * indexes are created first (mongo_ensure_indexes, as enterprised does at start), so the
 * unique rules hold while the data loads. Into a collection that holds documents the tool
 * refuses to write, unless --drop empties the three collections first.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "buf.h"
#include "json.h"
#include "mongo.h"
#include "seed_rng.h"
#include "validate.h"

#define SEED_DEFAULT_URI "mongodb://127.0.0.1:27017/enterprise"
#define SEED_DEFAULT_DB "enterprise"
#define SEED_BATCH 1000
#define SEED_SAMPLE_MAX 2000
#define SEED_MAX_ORGS 1000000
#define SEED_MAX_CLINICS 20
#define SEED_DAY_MS INT64_C(86400000)
#define SEED_HISTORY_MS (3 * 365 * SEED_DAY_MS)

#define SEED_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SEED_PICK(r, list) ((list)[seed_rng_below((r), (uint32_t)SEED_NELEM(list))])

/* --- word lists --- */

/* Real cities; code is unique within its state, tz is the city's IANA zone. */
static const struct seed_city {
	const char *state;
	const char *city;
	const char *code;
	const char *tz;
	const char *area; /* telephone area code */
	unsigned zip;	  /* a postal code of the city's centre */
	unsigned weight;  /* roughly by population */
} seed_cities[] = {
    {"TX", "Austin", "AUS", "America/Chicago", "512", 78701, 3},
    {"TX", "Houston", "HOU", "America/Chicago", "713", 77002, 5},
    {"TX", "Dallas", "DAL", "America/Chicago", "214", 75201, 4},
    {"TX", "San Antonio", "SAT", "America/Chicago", "210", 78205, 3},
    {"TX", "El Paso", "ELP", "America/Denver", "915", 79901, 1},
    {"CA", "Los Angeles", "LAX", "America/Los_Angeles", "213", 90012, 6},
    {"CA", "San Diego", "SAN", "America/Los_Angeles", "619", 92101, 3},
    {"CA", "San Francisco", "SFO", "America/Los_Angeles", "415", 94103, 3},
    {"CA", "Sacramento", "SAC", "America/Los_Angeles", "916", 95814, 2},
    {"CA", "San Jose", "SJC", "America/Los_Angeles", "408", 95113, 2},
    {"NY", "New York", "NYC", "America/New_York", "212", 10001, 7},
    {"NY", "Buffalo", "BUF", "America/New_York", "716", 14202, 1},
    {"NY", "Rochester", "ROC", "America/New_York", "585", 14604, 1},
    {"FL", "Miami", "MIA", "America/New_York", "305", 33130, 3},
    {"FL", "Orlando", "ORL", "America/New_York", "407", 32801, 2},
    {"FL", "Tampa", "TPA", "America/New_York", "813", 33602, 2},
    {"FL", "Jacksonville", "JAX", "America/New_York", "904", 32202, 2},
    {"IL", "Chicago", "CHI", "America/Chicago", "312", 60601, 5},
    {"IL", "Springfield", "SPI", "America/Chicago", "217", 62701, 1},
    {"WA", "Seattle", "SEA", "America/Los_Angeles", "206", 98101, 3},
    {"WA", "Spokane", "GEG", "America/Los_Angeles", "509", 99201, 1},
    {"OR", "Portland", "PDX", "America/Los_Angeles", "503", 97201, 2},
    {"CO", "Denver", "DEN", "America/Denver", "303", 80202, 3},
    {"CO", "Colorado Springs", "COS", "America/Denver", "719", 80903, 1},
    {"AZ", "Phoenix", "PHX", "America/Phoenix", "602", 85004, 4},
    {"AZ", "Tucson", "TUS", "America/Phoenix", "520", 85701, 1},
    {"NV", "Las Vegas", "LAS", "America/Los_Angeles", "702", 89101, 2},
    {"UT", "Salt Lake City", "SLC", "America/Denver", "801", 84101, 1},
    {"GA", "Atlanta", "ATL", "America/New_York", "404", 30303, 3},
    {"GA", "Savannah", "SAV", "America/New_York", "912", 31401, 1},
    {"NC", "Charlotte", "CLT", "America/New_York", "704", 28202, 2},
    {"NC", "Raleigh", "RAL", "America/New_York", "919", 27601, 2},
    {"MA", "Boston", "BOS", "America/New_York", "617", 2108, 3},
    {"PA", "Philadelphia", "PHL", "America/New_York", "215", 19103, 3},
    {"PA", "Pittsburgh", "PIT", "America/New_York", "412", 15222, 2},
    {"OH", "Columbus", "CMH", "America/New_York", "614", 43215, 2},
    {"OH", "Cleveland", "CLE", "America/New_York", "216", 44113, 2},
    {"MI", "Detroit", "DTW", "America/Detroit", "313", 48226, 2},
    {"MN", "Minneapolis", "MSP", "America/Chicago", "612", 55401, 2},
    {"TN", "Nashville", "BNA", "America/Chicago", "615", 37203, 2},
    {"MO", "Kansas City", "MCI", "America/Chicago", "816", 64105, 2},
    {"IN", "Indianapolis", "IND", "America/Indiana/Indianapolis", "317", 46204, 2},
    {"AK", "Anchorage", "ANC", "America/Anchorage", "907", 99501, 1},
    {"HI", "Honolulu", "HNL", "Pacific/Honolulu", "808", 96813, 1},
};

static const char *const seed_adjectives[] = {
    "Bright",  "Gentle",    "Happy",	 "Healthy", "Radiant", "Sunny",	   "Pure",
    "Perfect", "Brilliant", "Confident", "Fresh",   "Modern",  "Complete", "Premier",
    "Natural", "Friendly",  "Sparkling", "Golden",  "Coastal", "Advanced"};
static const char *const seed_nouns[] = {"Smiles", "Smile", "Teeth",  "Tooth", "Care",
					 "Grin",   "Bite",  "Enamel", "Dental"};
static const char *const seed_places[] = {
    "Lakeside",	   "Riverside",	  "Evergreen",	 "Summit",	   "Valley",
    "Harbor",	   "Parkview",	  "Hillcrest",	 "Meadowbrook",	   "Oak Grove",
    "Cedar Ridge", "Maple Creek", "Pine Valley", "Willow Springs", "Stonebridge",
    "Northgate",   "Westfield",	  "Brookside",	 "Fairview",	   "Sunrise"};
static const char *const seed_surnames[] = {
    "Smith",	 "Johnson",  "Williams",  "Brown", "Jones",  "Garcia",	 "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore",	 "Jackson",  "Martin",	  "Lee",   "Patel",  "Nguyen",	 "Kim",	   "Chen",
    "Walker",	 "Young",    "Allen",	  "King",  "Wright", "Scott"};
static const char *const seed_suffixes[] = {
    "Dental Group", "Dental Partners", "Dental Care",	"Dental Associates", "Family Dentistry",
    "Orthodontics", "Dental Studio",   "Dental Center", "Dental Network",    "Oral Health"};
static const char *const seed_areas[] = {"Downtown", "Midtown", "Uptown",   "North",   "South",
					 "East",     "West",	"Central",  "Heights", "Plaza",
					 "Park",     "Square",	"Crossing", "Commons"};
static const char *const seed_streets[] = {
    "Main",	"Oak",	    "Maple",	"Cedar",  "Elm",     "Park",	  "Washington",
    "Lake",	"Hill",	    "Pine",	"Sunset", "Lincoln", "Jefferson", "Madison",
    "Franklin", "Congress", "Commerce", "Market", "Church",  "Mill"};
static const char *const seed_street_types[] = {"St", "Ave", "Blvd", "Rd",
						"Dr", "Ln",  "Pkwy", "Way"};
static const char *const seed_mailboxes[] = {"info", "office", "contact", "admin", "hello"};

static const char *const seed_tiers[] = {"FREE", "BASIC", "PRO", "ENTERPRISE"};
static const unsigned seed_tier_weights[] = {35, 30, 25, 10};
/* clinics per organization, by tier */
static const uint32_t seed_tier_clinics[][2] = {{1, 2}, {1, 5}, {3, 12}, {8, 20}};

static const char *const seed_org_statuses[] = {"ACTIVE", "SUSPENDED", "INACTIVE"};
static const unsigned seed_org_status_weights[] = {85, 8, 7};

static const char *const seed_roles[] = {"DENTIST", "HYGIENIST", "ASSISTANT", "MANAGER",
					 "FRONT_DESK"};
static const unsigned seed_role_weights[] = {30, 25, 25, 8, 12};
/* assignments per provider: 1..5 */
static const unsigned seed_assignment_weights[] = {40, 30, 15, 10, 5};

/* --- the run --- */

/* A sample of ids for load tests: reservoir sampling, at most SEED_SAMPLE_MAX. */
struct seed_sample {
	char (*ids)[25];
	size_t n;
	uint64_t seen;
	struct seed_rng rng;
};

/* One collection's pending batch. */
struct seed_batch {
	const char *name;
	mongoc_collection_t *coll;
	bson_t docs[SEED_BATCH];
	size_t n;
	uint64_t total;
};

struct seed {
	uint64_t seed;
	int64_t anchor_ms;	/* "now" of the data set */
	uint32_t oid_mid;	/* middle bytes of every ObjectId */
	uint32_t oid_counter;	/* last bytes, +1 per id */
	uint64_t next_provider; /* prov-000001, ... */
	uint64_t next_user;	/* user-000001, ... */
	uint64_t providers;
	struct seed_batch batches[3];
	struct seed_sample samples[3];
	int sampling;
	bson_error_t error;
	const char *failed; /* collection of the failed insert, or NULL */
};

enum { SEED_ORGS, SEED_CLINICS, SEED_ASSIGNMENTS };
enum { SEED_SAMPLE_ORGS, SEED_SAMPLE_CLINICS, SEED_SAMPLE_PROVIDERS };
/* purposes of the rng streams */
enum { SEED_STREAM_RUN = 1, SEED_STREAM_ORG, SEED_STREAM_SAMPLE };

/* What an organization's providers need to know about its clinics. */
struct seed_clinic {
	bson_oid_t id;
	int64_t created_ms;
	int active;
};

static void
seed_oid(struct seed *s, int64_t created_ms, bson_oid_t *oid)
{
	uint8_t b[12];
	uint32_t t = (uint32_t)(created_ms / 1000);
	uint32_t c = ++s->oid_counter;
	int i;

	for (i = 0; i < 4; i++) {
		b[i] = (uint8_t)(t >> (24 - 8 * i));
		b[4 + i] = (uint8_t)(s->oid_mid >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(c >> (24 - 8 * i));
	}
	bson_oid_init_from_data(oid, b);
}

static void
seed_sample_add(struct seed *s, int which, const char *id)
{
	struct seed_sample *sm = &s->samples[which];
	uint64_t j;

	if (!s->sampling)
		return;
	sm->seen++;
	if (sm->n < SEED_SAMPLE_MAX) {
		snprintf(sm->ids[sm->n++], 25, "%s", id);
		return;
	}
	j = seed_rng_next(&sm->rng) % sm->seen;
	if (j < SEED_SAMPLE_MAX)
		snprintf(sm->ids[j], 25, "%s", id);
}

static void
seed_sample_oid(struct seed *s, int which, const bson_oid_t *oid)
{
	char hex[25];

	if (!s->sampling)
		return;
	bson_oid_to_string(oid, hex);
	seed_sample_add(s, which, hex);
}

/* Sends the pending batch of one collection; 0, or -1 with s->error. */
static int
seed_flush(struct seed *s, struct seed_batch *b)
{
	const bson_t *docs[SEED_BATCH];
	bson_t opts = BSON_INITIALIZER;
	size_t i;
	int ok = 1;

	if (b->n == 0)
		return 0;
	for (i = 0; i < b->n; i++)
		docs[i] = &b->docs[i];
	BSON_APPEND_BOOL(&opts, "ordered", false);
	if (!mongoc_collection_insert_many(b->coll, docs, b->n, &opts, NULL, &s->error)) {
		ok = 0;
		s->failed = b->name;
	}
	bson_destroy(&opts);
	for (i = 0; i < b->n; i++)
		bson_destroy(&b->docs[i]);
	b->total += b->n;
	b->n = 0;
	return ok ? 0 : -1;
}

/* The next document slot of a collection, initialized; flushes a full batch first. */
static bson_t *
seed_doc(struct seed *s, int which)
{
	struct seed_batch *b = &s->batches[which];

	if (b->n == SEED_BATCH && seed_flush(s, b) != 0)
		return NULL;
	bson_init(&b->docs[b->n]);
	return &b->docs[b->n++];
}

/* Lower-case letters and digits of s appended to out, for e-mail domains. */
static void
seed_slug(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(out);

	for (; *s && n + 1 < outlen; s++) {
		if (*s >= 'A' && *s <= 'Z')
			out[n++] = (char)(*s - 'A' + 'a');
		else if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))
			out[n++] = *s;
	}
	out[n] = '\0';
}

/*
 * Every draw is its own statement: the order in which C evaluates function arguments is
 * unspecified, and two compilers must not make two data sets from one seed.
 */
static void
seed_append_address(struct seed_rng *r, bson_t *doc, const struct seed_city *c)
{
	bson_t addr;
	char street[96], zip[8];
	uint32_t number = seed_rng_range(r, 100, 9999);
	const char *name = SEED_PICK(r, seed_streets);
	const char *type = SEED_PICK(r, seed_street_types);
	uint32_t floor, room;

	if (seed_rng_percent(r, 40)) {
		floor = seed_rng_range(r, 1, 5);
		room = seed_rng_range(r, 0, 20);
		snprintf(street, sizeof(street), "%" PRIu32 " %s %s, Suite %" PRIu32, number, name,
			 type, floor * 100 + room);
	} else {
		snprintf(street, sizeof(street), "%" PRIu32 " %s %s", number, name, type);
	}
	snprintf(zip, sizeof(zip), "%05u", c->zip + seed_rng_below(r, 40));
	BSON_APPEND_DOCUMENT_BEGIN(doc, "address", &addr);
	BSON_APPEND_UTF8(&addr, "street", street);
	BSON_APPEND_UTF8(&addr, "city", c->city);
	BSON_APPEND_UTF8(&addr, "state", c->state);
	BSON_APPEND_UTF8(&addr, "postalCode", zip);
	BSON_APPEND_UTF8(&addr, "country", "US");
	bson_append_document_end(doc, &addr);
}

/* A fictional number: 555-0100 to 555-0199 are reserved for fiction in North America. */
static void
seed_append_phone(struct seed_rng *r, bson_t *doc, const struct seed_city *c)
{
	char phone[32];

	snprintf(phone, sizeof(phone), "+1 %s-555-01%02" PRIu32, c->area, seed_rng_below(r, 100));
	BSON_APPEND_UTF8(doc, "phone", phone);
}

static void
seed_append_stamps(bson_t *doc, int64_t created_ms, int64_t updated_ms, int64_t version)
{
	BSON_APPEND_DATE_TIME(doc, "createdAt", created_ms);
	BSON_APPEND_DATE_TIME(doc, "updatedAt", updated_ms);
	BSON_APPEND_INT64(doc, "version", version);
}

static size_t
seed_pick_city(struct seed_rng *r)
{
	unsigned w[SEED_NELEM(seed_cities)];
	size_t i;

	for (i = 0; i < SEED_NELEM(seed_cities); i++)
		w[i] = seed_cities[i].weight;
	return seed_rng_weighted(r, w, SEED_NELEM(seed_cities));
}

/* A clinic's city: mostly the group's home city or its home state, sometimes anywhere. */
static size_t
seed_pick_clinic_city(struct seed_rng *r, size_t home)
{
	size_t same[SEED_NELEM(seed_cities)], n = 0, i;
	uint32_t x = seed_rng_below(r, 100);

	if (x < 45)
		return home;
	if (x < 80) {
		for (i = 0; i < SEED_NELEM(seed_cities); i++)
			if (strcmp(seed_cities[i].state, seed_cities[home].state) == 0)
				same[n++] = i;
		return same[seed_rng_below(r, (uint32_t)n)];
	}
	return seed_pick_city(r);
}

/* The group's name and the brand its clinics carry ("Bright Smiles", "Garcia & Lee"). */
static void
seed_org_name(struct seed_rng *r, char *name, size_t namelen, char *brand, size_t brandlen)
{
	const char *suffix = SEED_PICK(r, seed_suffixes), *a, *b;

	switch (seed_rng_below(r, 4)) {
	case 0:
		a = SEED_PICK(r, seed_surnames);
		snprintf(brand, brandlen, "%s", a);
		snprintf(name, namelen, "%s Family Dentistry", a);
		return;
	case 1:
		a = SEED_PICK(r, seed_surnames);
		do
			b = SEED_PICK(r, seed_surnames);
		while (b == a);
		snprintf(brand, brandlen, "%s & %s", a, b);
		break;
	case 2:
		snprintf(brand, brandlen, "%s", SEED_PICK(r, seed_places));
		break;
	default:
		a = SEED_PICK(r, seed_adjectives);
		do
			b = SEED_PICK(r, seed_nouns);
		while (strcmp(suffix, "Dental Care") == 0 && strcmp(b, "Care") == 0);
		if (strncmp(suffix, "Dental", 6) == 0 && strcmp(b, "Dental") == 0)
			b = "Smiles";
		snprintf(brand, brandlen, "%s %s", a, b);
		break;
	}
	snprintf(name, namelen, "%s %s", brand, suffix);
}

/* --- one organization with its clinics, providers and assignments --- */

static int
seed_assignments(struct seed *s, struct seed_rng *r, const bson_oid_t *org,
		 const struct seed_clinic *clinics, uint32_t nclinics)
{
	uint32_t order[SEED_MAX_CLINICS], active[SEED_MAX_CLINICS] = {0}, nactive = 0, i, k, j, t;
	size_t main_role = seed_rng_weighted(r, seed_role_weights, SEED_NELEM(seed_role_weights));
	char provider[32];

	snprintf(provider, sizeof(provider), "prov-%06" PRIu64, ++s->next_provider);
	s->providers++;
	seed_sample_add(s, SEED_SAMPLE_PROVIDERS, provider);

	/* the primary clinic first (an active one: the first clinic always is), then distinct
	 * others in random order */
	for (i = 0; i < nclinics; i++)
		if (clinics[i].active)
			active[nactive++] = i;
	order[0] = active[seed_rng_below(r, nactive > 0 ? nactive : 1)];
	for (i = 0, j = 1; i < nclinics; i++)
		if (i != order[0])
			order[j++] = i;
	for (i = 1; i + 1 < nclinics; i++) {
		j = i + seed_rng_below(r, nclinics - i);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	k = 1 + (uint32_t)seed_rng_weighted(r, seed_assignment_weights,
					    SEED_NELEM(seed_assignment_weights));
	if (k > nclinics)
		k = nclinics;

	for (i = 0; i < k; i++) {
		const struct seed_clinic *c = &clinics[order[i]];
		int primary = i == 0;
		int is_active = primary || (c->active && seed_rng_percent(r, 85));
		int64_t assigned = seed_rng_time(r, c->created_ms, s->anchor_ms - SEED_DAY_MS);
		int64_t ended = 0;
		uint32_t extra = seed_rng_percent(r, 30) ? (seed_rng_percent(r, 30) ? 2 : 1) : 0;
		size_t roles[3], nroles = 1, x;
		bson_oid_t id;
		bson_t *doc, arr;
		char key[4];

		roles[0] = main_role;
		while (nroles < 1 + extra) {
			x = seed_rng_below(r, (uint32_t)SEED_NELEM(seed_roles));
			for (j = 0; j < nroles && roles[j] != x; j++)
				;
			if (j == nroles)
				roles[nroles++] = x;
		}
		if (!is_active)
			ended = seed_rng_time(r, assigned + SEED_DAY_MS, s->anchor_ms);

		if ((doc = seed_doc(s, SEED_ASSIGNMENTS)) == NULL)
			return -1;
		seed_oid(s, assigned, &id);
		BSON_APPEND_OID(doc, "_id", &id);
		BSON_APPEND_UTF8(doc, "providerId", provider);
		BSON_APPEND_OID(doc, "clinicId", &c->id);
		BSON_APPEND_OID(doc, "organizationId", org);
		BSON_APPEND_ARRAY_BEGIN(doc, "roles", &arr);
		for (j = 0; j < nroles; j++) {
			snprintf(key, sizeof(key), "%" PRIu32, j);
			BSON_APPEND_UTF8(&arr, key, seed_roles[roles[j]]);
		}
		bson_append_array_end(doc, &arr);
		BSON_APPEND_BOOL(doc, "isPrimaryClinic", primary);
		BSON_APPEND_BOOL(doc, "isActive", is_active);
		BSON_APPEND_DATE_TIME(doc, "assignedAt", assigned);
		/* an ended assignment was written once more, by its deactivation */
		if (is_active) {
			seed_append_stamps(doc, assigned, assigned, 1);
		} else {
			BSON_APPEND_DATE_TIME(doc, "unassignedAt", ended);
			seed_append_stamps(doc, assigned, ended, 2);
		}
	}
	return 0;
}

static int
seed_organization(struct seed *s, uint64_t index)
{
	struct seed_rng rng, *r = &rng;
	struct seed_clinic clinics[SEED_MAX_CLINICS];
	uint32_t city_seq[SEED_NELEM(seed_cities)] = {0};
	size_t tier, status, home, city;
	uint32_t nclinics, nmanagers, nproviders, i;
	uint64_t first_manager;
	int64_t created, end;
	char name[160], brand[96], email[160], text[192];
	bson_oid_t org;
	bson_t *doc, settings;

	seed_rng_init(r, s->seed, SEED_STREAM_ORG, index);
	tier = seed_rng_weighted(r, seed_tier_weights, SEED_NELEM(seed_tier_weights));
	status = seed_rng_weighted(r, seed_org_status_weights, SEED_NELEM(seed_org_status_weights));
	home = seed_pick_city(r);
	seed_org_name(r, name, sizeof(name), brand, sizeof(brand));
	created = seed_rng_time(r, s->anchor_ms - SEED_HISTORY_MS, s->anchor_ms - SEED_DAY_MS);
	/* active plans run into the future; suspended and inactive ones have lapsed */
	if (status == 0)
		end = s->anchor_ms + seed_rng_time(r, 30 * SEED_DAY_MS, 730 * SEED_DAY_MS);
	else
		end = seed_rng_time(r, created, s->anchor_ms - SEED_DAY_MS);
	end -= end % SEED_DAY_MS;
	snprintf(email, sizeof(email), "%s@", SEED_PICK(r, seed_mailboxes));
	seed_slug(email, sizeof(email), name);
	snprintf(email + strlen(email), sizeof(email) - strlen(email), ".example.com");

	if ((doc = seed_doc(s, SEED_ORGS)) == NULL)
		return -1;
	seed_oid(s, created, &org);
	seed_sample_oid(s, SEED_SAMPLE_ORGS, &org);
	BSON_APPEND_OID(doc, "_id", &org);
	BSON_APPEND_UTF8(doc, "name", name);
	BSON_APPEND_UTF8(doc, "status", seed_org_statuses[status]);
	BSON_APPEND_UTF8(doc, "subscriptionTier", seed_tiers[tier]);
	BSON_APPEND_DATE_TIME(doc, "subscriptionEndDate", end);
	BSON_APPEND_UTF8(doc, "contactEmail", email);
	seed_append_phone(r, doc, &seed_cities[home]);
	seed_append_address(r, doc, &seed_cities[home]);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "settings", &settings);
	BSON_APPEND_UTF8(&settings, "defaultTimezone", seed_cities[home].tz);
	BSON_APPEND_INT32(&settings, "appointmentReminderHours", seed_rng_percent(r, 60) ? 24 : 48);
	BSON_APPEND_BOOL(&settings, "onlineBooking", seed_rng_percent(r, 70));
	bson_append_document_end(doc, &settings);
	seed_append_stamps(doc, created, created, 1);

	/* clinics; their managers are the group's few manager users */
	nclinics = seed_rng_range(r, seed_tier_clinics[tier][0], seed_tier_clinics[tier][1]);
	nmanagers = 1 + nclinics / 4;
	first_manager = s->next_user + 1;
	s->next_user += nmanagers;
	for (i = 0; i < nclinics; i++) {
		struct seed_clinic *c = &clinics[i];
		uint32_t mgr = seed_rng_below(r, nmanagers);

		city = i == 0 ? home : seed_pick_clinic_city(r, home);
		c->active = i == 0 || seed_rng_percent(r, status == 0 ? 92 : 60);
		/* the first clinic opened with the group, the others since */
		if (i == 0)
			c->created_ms = seed_rng_time(r, created, created + 7 * SEED_DAY_MS);
		else
			c->created_ms = seed_rng_time(r, created, s->anchor_ms - SEED_DAY_MS);
		if (c->created_ms > s->anchor_ms - SEED_DAY_MS)
			c->created_ms = s->anchor_ms - SEED_DAY_MS;

		if ((doc = seed_doc(s, SEED_CLINICS)) == NULL)
			return -1;
		seed_oid(s, c->created_ms, &c->id);
		seed_sample_oid(s, SEED_SAMPLE_CLINICS, &c->id);
		BSON_APPEND_OID(doc, "_id", &c->id);
		BSON_APPEND_OID(doc, "organizationId", &org);
		snprintf(text, sizeof(text), "%s %s %s", brand, seed_cities[city].city,
			 SEED_PICK(r, seed_areas));
		BSON_APPEND_UTF8(doc, "name", text);
		/* unique within the group: a running number per city */
		snprintf(text, sizeof(text), "%s-%s-%03" PRIu32, seed_cities[city].state,
			 seed_cities[city].code, ++city_seq[city]);
		BSON_APPEND_UTF8(doc, "code", text);
		BSON_APPEND_UTF8(doc, "status", c->active ? "ACTIVE" : "INACTIVE");
		snprintf(text, sizeof(text), "user-%06" PRIu64, first_manager + mgr);
		BSON_APPEND_UTF8(doc, "managerUserId", text);
		seed_append_address(r, doc, &seed_cities[city]);
		seed_append_phone(r, doc, &seed_cities[city]);
		BSON_APPEND_UTF8(doc, "timezone", seed_cities[city].tz);
		seed_append_stamps(doc, c->created_ms, c->created_ms, 1);
	}

	/* about three providers per clinic */
	nproviders = seed_rng_range(r, 2 * nclinics, 4 * nclinics);
	for (i = 0; i < nproviders; i++)
		if (seed_assignments(s, r, &org, clinics, nclinics) != 0)
			return -1;
	return 0;
}

/* --- database --- */

static int64_t
seed_count(mongoc_collection_t *coll, bson_error_t *error)
{
	return mongoc_collection_estimated_document_count(coll, NULL, NULL, NULL, error);
}

/* Drops a collection; one that does not exist is fine. */
static int
seed_drop(mongoc_collection_t *coll, bson_error_t *error)
{
	if (mongoc_collection_drop(coll, error))
		return 0;
	if (error->code == 26 || strstr(error->message, "ns not found") != NULL)
		return 0;
	return -1;
}

/* Writes the sampled ids to f (opened before the run, so that a bad path fails early). */
static int
seed_write_ids(struct seed *s, FILE *f, const char *path)
{
	static const char *const keys[] = {"organizations", "clinics", "providers"};
	struct buf b;
	struct json j;
	size_t i, k;
	int rc = 0;

	buf_init(&b);
	json_init(&j, &b);
	json_object_begin(&j);
	for (k = 0; k < 3; k++) {
		json_key(&j, keys[k]);
		json_array_begin(&j);
		for (i = 0; i < s->samples[k].n; i++)
			json_string(&j, s->samples[k].ids[i]);
		json_array_end(&j);
	}
	json_object_end(&j);
	buf_appendc(&b, '\n');
	if (fwrite(b.data, 1, b.len, f) != b.len || fflush(f) != 0) {
		fprintf(stderr, "seed: writing %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	buf_free(&b);
	return rc;
}

static void
seed_usage(FILE *f)
{
	fprintf(f,
		"usage: seed --orgs N [--seed S] [--drop] [--ids-out FILE] [--now YYYY-MM-DD]\n"
		"  --orgs N        organizations to write (1 to %d)\n"
		"  --seed S        the data set's number (default 1): same seed, same data\n"
		"  --drop          drop organizations, clinics and assignments first\n"
		"  --ids-out FILE  write a sample of ids as JSON for load tests\n"
		"  --now DATE      the data set's today (default: today, UTC)\n"
		"MONGODB_URI names the database (default " SEED_DEFAULT_URI ")\n",
		SEED_MAX_ORGS);
}

static int
seed_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static double
seed_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Driver warnings stay visible, except the one FerretDB causes at every exit. */
static void
seed_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message, void *arg)
{
	if (level > MONGOC_LOG_LEVEL_WARNING || strstr(message, "endSessions") != NULL)
		return;
	fprintf(stderr, "seed: mongoc: %s: %s\n", domain, message);
}

/* The whole run once the options are known; the exit status. */
static int
seed_run(struct seed *s, uint64_t orgs, int drop, FILE *ids, const char *ids_out)
{
	static const char *const names[] = {"organizations", "clinics", "assignments"};
	const char *uri_text = getenv("MONGODB_URI"), *dbname;
	mongoc_uri_t *uri;
	mongoc_client_t *client = NULL;
	bson_error_t error;
	char err[512], day[32];
	double t0 = seed_seconds();
	uint64_t i;
	int k, rc = 1;

	if (uri_text == NULL || uri_text[0] == '\0')
		uri_text = SEED_DEFAULT_URI;
	if ((uri = mongoc_uri_new_with_error(uri_text, &error)) == NULL) {
		fprintf(stderr, "seed: MONGODB_URI: %s\n", error.message);
		return 2;
	}
	/* fail in seconds, not the driver's 30, when nothing answers */
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
	dbname = mongoc_uri_get_database(uri);
	if (dbname == NULL || dbname[0] == '\0')
		dbname = SEED_DEFAULT_DB;
	if ((client = mongoc_client_new_from_uri_with_error(uri, &error)) == NULL) {
		fprintf(stderr, "seed: %s\n", error.message);
		goto out;
	}
	mongoc_client_set_appname(client, "enterprised-seed");
	if (mongo_ping(client, err, sizeof(err)) != 0) {
		fprintf(stderr, "seed: no answer from %s: %s\n", uri_text, err);
		goto out;
	}
	for (k = 0; k < 3; k++) {
		s->batches[k].name = names[k];
		s->batches[k].coll = mongoc_client_get_collection(client, dbname, names[k]);
	}

	for (k = 0; k < 3; k++) {
		int64_t n;

		if (drop) {
			if (seed_drop(s->batches[k].coll, &error) != 0) {
				fprintf(stderr, "seed: dropping %s.%s: %s\n", dbname, names[k],
					error.message);
				goto out;
			}
			continue;
		}
		if ((n = seed_count(s->batches[k].coll, &error)) < 0) {
			fprintf(stderr, "seed: counting %s.%s: %s\n", dbname, names[k],
				error.message);
			goto out;
		}
		if (n > 0) {
			fprintf(stderr,
				"seed: %s.%s already holds %" PRId64 " documents; refusing to mix "
				"data sets (--drop replaces the three collections)\n",
				dbname, names[k], n);
			goto out;
		}
	}
	if (mongo_ensure_indexes(client, dbname, err, sizeof(err)) != 0) {
		fprintf(stderr, "seed: %s\n", err);
		goto out;
	}

	for (i = 0; i < orgs; i++)
		if (seed_organization(s, i) != 0)
			break;
	for (k = 0; k < 3 && s->failed == NULL; k++)
		seed_flush(s, &s->batches[k]);
	if (s->failed != NULL) {
		fprintf(stderr, "seed: inserting into %s.%s failed: %s\n", dbname, s->failed,
			s->error.message);
		goto out;
	}
	if (ids != NULL && seed_write_ids(s, ids, ids_out) != 0)
		goto out;

	json_iso8601(s->anchor_ms, day);
	day[10] = '\0';
	fprintf(stderr,
		"seed: %" PRIu64 " organizations, %" PRIu64 " clinics, %" PRIu64
		" providers, %" PRIu64 " assignments in %.2f s (seed %" PRIu64
		", today %s, database %s)\n",
		s->batches[SEED_ORGS].total, s->batches[SEED_CLINICS].total, s->providers,
		s->batches[SEED_ASSIGNMENTS].total, seed_seconds() - t0, s->seed, day, dbname);
	rc = 0;
out:
	for (k = 0; k < 3; k++) {
		size_t j;

		for (j = 0; j < s->batches[k].n; j++)
			bson_destroy(&s->batches[k].docs[j]);
		if (s->batches[k].coll != NULL)
			mongoc_collection_destroy(s->batches[k].coll);
	}
	if (client != NULL)
		mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"orgs", required_argument, NULL, 'o'},
	    {"seed", required_argument, NULL, 's'},
	    {"drop", no_argument, NULL, 'd'},
	    {"ids-out", required_argument, NULL, 'i'},
	    {"now", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct seed *s = NULL;
	struct seed_rng run;
	FILE *ids = NULL;
	uint64_t orgs = 0, seed = 1;
	int64_t anchor = -1;
	const char *ids_out = NULL;
	int c, drop = 0, rc, k;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (seed_parse_u64(optarg, SEED_MAX_ORGS, &orgs) != 0 || orgs == 0) {
				fprintf(stderr, "seed: --orgs wants 1 to %d\n", SEED_MAX_ORGS);
				return 2;
			}
			break;
		case 's':
			if (seed_parse_u64(optarg, UINT64_MAX, &seed) != 0) {
				fprintf(stderr, "seed: --seed wants a number\n");
				return 2;
			}
			break;
		case 'd':
			drop = 1;
			break;
		case 'i':
			ids_out = optarg;
			break;
		case 'n':
			if (validate_date(optarg, &anchor) != 0) {
				fprintf(stderr, "seed: --now wants a date such as 2025-01-31\n");
				return 2;
			}
			break;
		case 'h':
			seed_usage(stdout);
			return 0;
		default:
			seed_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || orgs == 0) {
		seed_usage(stderr);
		return 2;
	}
	if (anchor < 0)
		anchor = (int64_t)time(NULL) * 1000;
	anchor -= anchor % SEED_DAY_MS;
	if (anchor < SEED_HISTORY_MS) {
		fprintf(stderr, "seed: --now must be after 1973\n");
		return 2;
	}

	if (ids_out != NULL && (ids = fopen(ids_out, "w")) == NULL) {
		fprintf(stderr, "seed: %s: %s\n", ids_out, strerror(errno));
		return 2;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto oom;
	s->seed = seed;
	s->anchor_ms = anchor;
	seed_rng_init(&run, seed, SEED_STREAM_RUN, 0);
	s->oid_mid = (uint32_t)seed_rng_next(&run);
	s->oid_counter = (uint32_t)seed_rng_next(&run);
	if (ids != NULL) {
		s->sampling = 1;
		for (k = 0; k < 3; k++) {
			s->samples[k].ids = calloc(SEED_SAMPLE_MAX, sizeof(*s->samples[k].ids));
			if (s->samples[k].ids == NULL)
				goto oom;
			seed_rng_init(&s->samples[k].rng, seed, SEED_STREAM_SAMPLE, (uint64_t)k);
		}
	}

	mongoc_init();
	mongoc_log_set_handler(seed_mongoc_log, NULL);
	rc = seed_run(s, orgs, drop, ids, ids_out);
	mongoc_cleanup();
	goto out;
oom:
	fprintf(stderr, "seed: out of memory\n");
	rc = 1;
out:
	if (ids != NULL && fclose(ids) != 0 && rc == 0) {
		fprintf(stderr, "seed: writing %s: %s\n", ids_out, strerror(errno));
		rc = 1;
	}
	/* no half-written sample that a load test would take for a good one */
	if (ids != NULL && rc != 0)
		unlink(ids_out);
	if (s != NULL) {
		for (k = 0; k < 3; k++)
			free(s->samples[k].ids);
		free(s);
	}
	return rc;
}
