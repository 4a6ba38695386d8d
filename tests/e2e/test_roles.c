/*
 * test_roles.c: who may do what with clinics and assignments, end to end: platform_admin,
 * org_admin, clinic_manager (managing one clinic of its organization, not another) and
 * provider (active at one clinic) against their own organization and another one, for get,
 * list, search, create, patch and delete. Expected answers: 200/201/204 when allowed, 403
 * for a write on a document the role can see, 404 for what it cannot see (another
 * organization's documents; for a provider, clinics and assignments that are not its own).
 * Lists and searches must answer exactly the visible ids: the scope is inside the query.
 *
 * The fixture, made by platform_admin through the API:
 *   organization A: clinic A1 (managerUserId mgr-a), clinic A2 (managerUserId mgr-other);
 *   organization B: clinic B1 (managerUserId mgr-a: the same sub as A's manager).
 *   assignments: a1 = prov-a at A1, a2 = prov-a at A2 (deactivated), x2 = prov-x at A2,
 *   y1 = prov-y at A1, b1 = prov-a at B1.
 * Tokens: org_admin of A, clinic_manager of A with sub mgr-a, provider of A with sub prov-a.
 * Reads come first; the writes that succeed use documents of their own, except the last
 * tests (deletes). One server with the read cache on: the same path read by several roles
 * must still answer each its own scope.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "harness.h"

static struct harness_deps deps;
static struct harness_server server;
static char *admin; /* a platform_admin token */

enum { ADMIN, ORG_ADMIN, MANAGER, PROVIDER, NROLES };

static const char *const role_names[NROLES] = {"platform_admin", "org_admin", "clinic_manager",
					       "provider"};
static char *tokens[NROLES];

/* the fixture (see the top) */
static char org_a[25], org_b[25], clinic_a1[25], clinic_a2[25], clinic_b1[25];
static char asg_a1[25], asg_a2[25], asg_x2[25], asg_y1[25], asg_b1[25];

/* --- helpers ------------------------------------------------------------------------------ */

/* POST /assignments as platform_admin. */
static void
assign(const char *provider, const char *clinic, char id[25])
{
	char *body =
	    client_strf("{\"providerId\":\"%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}",
			provider, clinic);

	bson_destroy(client_create(CLIENT_V1 "/assignments", admin, body, id));
	free(body);
}

/*
 * method path with body as each role: want[role] is the expected status (0: not asked).
 * A success must be JSON (or empty for 204), a failure problem+json. body may hold one %s,
 * replaced by the role's name, so that each role's create is a different document.
 */
static void
expect_matrix(const char *method, const char *path, const char *body_fmt, const long want[NROLES])
{
	struct harness_response r;
	char why[512], *body;
	int k;

	for (k = 0; k < NROLES; k++) {
		if (want[k] == 0)
			continue;
		body = body_fmt != NULL ? client_strf(body_fmt, role_names[k]) : NULL;
		client_call(method, path, tokens[k], body, &r);
		if (r.status != want[k])
			fail_msg("%s %s as %s: %ld, want %ld; body %s", method, path, role_names[k],
				 r.status, want[k], r.body);
		if (want[k] >= 400 && harness_problem_check(&r, why, sizeof(why)) == -1)
			fail_msg("%s %s as %s: %s", method, path, role_names[k], why);
		if (want[k] == 200 || want[k] == 201) {
			bson_destroy(client_expect_json(&r, want[k]));
		}
		harness_response_free(&r);
		free(body);
	}
}

/* The clinic still exists (platform_admin reads it). */
static void
still_there(const char *kind, const char *id)
{
	char *path = client_strf(CLIENT_V1 "/%s/%s", kind, id);

	bson_destroy(client_get_json(path, admin));
	free(path);
}

static int
fixture(void)
{
	struct harness_response r;
	char *path;
	int ok;

	client_new_org("Roles Group A", org_a);
	client_new_org("Roles Group B", org_b);
	client_new_clinic(
	    org_a, "{\"name\":\"Matrix Alpha\",\"code\":\"MX-A1\",\"managerUserId\":\"mgr-a\"}",
	    clinic_a1);
	client_new_clinic(
	    org_a, "{\"name\":\"Matrix Beta\",\"code\":\"MX-A2\",\"managerUserId\":\"mgr-other\"}",
	    clinic_a2);
	client_new_clinic(
	    org_b, "{\"name\":\"Matrix Gamma\",\"code\":\"MX-B1\",\"managerUserId\":\"mgr-a\"}",
	    clinic_b1);
	assign("prov-a", clinic_a1, asg_a1);
	assign("prov-a", clinic_a2, asg_a2);
	assign("prov-x", clinic_a2, asg_x2);
	assign("prov-y", clinic_a1, asg_y1);
	assign("prov-a", clinic_b1, asg_b1);
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_a2);
	client_call("DELETE", path, admin, NULL, &r);
	ok = r.status == 200;
	harness_response_free(&r);
	free(path);
	tokens[ADMIN] = harness_token("platform_admin", NULL, "root");
	tokens[ORG_ADMIN] = harness_token("org_admin", org_a, "oa-a");
	tokens[MANAGER] = harness_token("clinic_manager", org_a, "mgr-a");
	tokens[PROVIDER] = harness_token("provider", org_a, "prov-a");
	return ok ? 0 : -1;
}

/* --- clinics: reads ------------------------------------------------------------------------ */

static void
test_clinic_get_where_the_provider_works_is_200_for_every_role(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_a1);

	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 200});
	free(path);
}

static void
test_clinic_get_of_own_org_without_the_providers_active_assignment_is_404_for_it(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_a2);

	/* prov-a's assignment at A2 is inactive: the clinic is not its own any more */
	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 404});
	free(path);
}

static void
test_clinic_get_of_another_org_is_404_for_every_member_role(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_b1);

	expect_matrix("GET", path, NULL, (const long[]){200, 404, 404, 404});
	free(path);
}

static void
test_clinic_list_answers_exactly_the_clinics_each_role_sees(void **state)
{
	const char *p = CLIENT_V1 "/clinics?limit=100";

	client_expect_ids(p, tokens[ADMIN],
			  (const char *const[]){clinic_a1, clinic_a2, clinic_b1, NULL});
	client_expect_ids(p, tokens[ORG_ADMIN], (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(p, tokens[MANAGER], (const char *const[]){clinic_a1, clinic_a2, NULL});
	/* a provider: the clinics of its active assignments in its organization (not B1) */
	client_expect_ids(p, tokens[PROVIDER], (const char *const[]){clinic_a1, NULL});
}

static void
test_clinic_list_asking_for_another_org_is_empty_for_member_roles(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics?limit=100&organizationId=%s", org_b);
	int k;

	for (k = ORG_ADMIN; k < NROLES; k++)
		client_expect_ids(path, tokens[k], (const char *const[]){NULL});
	client_expect_ids(path, tokens[ADMIN], (const char *const[]){clinic_b1, NULL});
	free(path);
	/* and a filter that would match B1 finds nothing outside the scope either */
	client_expect_ids(CLIENT_V1 "/clinics?limit=100&managerUserId=mgr-a", tokens[MANAGER],
			  (const char *const[]){clinic_a1, NULL});
}

static void
test_org_clinic_list_of_own_org_answers_what_each_role_sees(void **state)
{
	char *path = client_strf(CLIENT_V1 "/organizations/%s/clinics?limit=100", org_a);

	client_expect_ids(path, tokens[ADMIN], (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(path, tokens[ORG_ADMIN],
			  (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(path, tokens[MANAGER], (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(path, tokens[PROVIDER], (const char *const[]){clinic_a1, NULL});
	free(path);
}

static void
test_org_clinic_list_of_another_org_is_404_for_member_roles(void **state)
{
	char *path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org_b);

	expect_matrix("GET", path, NULL, (const long[]){200, 404, 404, 404});
	free(path);
}

static void
test_clinic_search_answers_exactly_the_clinics_each_role_sees(void **state)
{
	const char *p = CLIENT_V1 "/clinics/search?q=matrix";

	client_expect_ids(p, tokens[ADMIN],
			  (const char *const[]){clinic_a1, clinic_a2, clinic_b1, NULL});
	client_expect_ids(p, tokens[ORG_ADMIN], (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(p, tokens[MANAGER], (const char *const[]){clinic_a1, clinic_a2, NULL});
	client_expect_ids(p, tokens[PROVIDER], (const char *const[]){clinic_a1, NULL});
	/* a code of another organization's clinic finds nothing */
	client_expect_ids(CLIENT_V1 "/clinics/search?q=MX-B1", tokens[ORG_ADMIN],
			  (const char *const[]){NULL});
}

/* --- assignments: reads ------------------------------------------------------------------- */

static void
test_assignment_get_of_the_providers_own_is_200_for_every_role(void **state)
{
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_a1);

	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 200});
	free(path);
	/* its own inactive one too: it reads its own assignments */
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_a2);
	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 200});
	free(path);
}

static void
test_assignment_get_of_another_provider_is_404_for_the_provider(void **state)
{
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_x2);

	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 404});
	free(path);
}

static void
test_assignment_get_of_another_org_is_404_for_every_member_role(void **state)
{
	/* b1 is prov-a's own, but in organization B */
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_b1);

	expect_matrix("GET", path, NULL, (const long[]){200, 404, 404, 404});
	free(path);
}

static void
test_assignment_list_answers_exactly_what_each_role_sees(void **state)
{
	const char *p = CLIENT_V1 "/assignments?limit=100";

	client_expect_ids(p, tokens[ADMIN],
			  (const char *const[]){asg_a1, asg_a2, asg_x2, asg_y1, asg_b1, NULL});
	client_expect_ids(p, tokens[ORG_ADMIN],
			  (const char *const[]){asg_a1, asg_a2, asg_x2, asg_y1, NULL});
	client_expect_ids(p, tokens[MANAGER],
			  (const char *const[]){asg_a1, asg_a2, asg_x2, asg_y1, NULL});
	client_expect_ids(p, tokens[PROVIDER], (const char *const[]){asg_a1, asg_a2, NULL});
}

static void
test_assignment_list_filters_cannot_widen_the_scope(void **state)
{
	char *path;

	client_expect_ids(CLIENT_V1 "/assignments?limit=100&providerId=prov-x", tokens[PROVIDER],
			  (const char *const[]){NULL});
	path = client_strf(CLIENT_V1 "/assignments?limit=100&organizationId=%s", org_b);
	client_expect_ids(path, tokens[ORG_ADMIN], (const char *const[]){NULL});
	client_expect_ids(path, tokens[MANAGER], (const char *const[]){NULL});
	client_expect_ids(path, tokens[PROVIDER], (const char *const[]){NULL});
	free(path);
	path = client_strf(CLIENT_V1 "/assignments?limit=100&clinicId=%s", clinic_b1);
	client_expect_ids(path, tokens[ORG_ADMIN], (const char *const[]){NULL});
	free(path);
}

static void
test_provider_clinics_answer_what_each_role_sees(void **state)
{
	const char *p = CLIENT_V1 "/providers/prov-a/clinics";

	client_expect_ids(p, tokens[ADMIN], (const char *const[]){asg_a1, asg_b1, NULL});
	client_expect_ids(p, tokens[ORG_ADMIN], (const char *const[]){asg_a1, NULL});
	client_expect_ids(p, tokens[MANAGER], (const char *const[]){asg_a1, NULL});
	client_expect_ids(p, tokens[PROVIDER], (const char *const[]){asg_a1, NULL});
}

static void
test_provider_clinics_of_another_provider_is_404_for_a_provider(void **state)
{
	expect_matrix("GET", CLIENT_V1 "/providers/prov-x/clinics", NULL,
		      (const long[]){200, 200, 200, 404});
	client_expect_ids(CLIENT_V1 "/providers/prov-x/clinics", tokens[MANAGER],
			  (const char *const[]){asg_x2, NULL});
}

static void
test_clinic_providers_answer_what_each_role_sees(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s/providers", clinic_a1);

	client_expect_ids(path, tokens[ADMIN], (const char *const[]){asg_a1, asg_y1, NULL});
	client_expect_ids(path, tokens[ORG_ADMIN], (const char *const[]){asg_a1, asg_y1, NULL});
	client_expect_ids(path, tokens[MANAGER], (const char *const[]){asg_a1, asg_y1, NULL});
	/* a provider reads its own assignments only */
	client_expect_ids(path, tokens[PROVIDER], (const char *const[]){asg_a1, NULL});
	free(path);
}

static void
test_clinic_providers_hidden_from_a_role_are_404(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s/providers", clinic_a2);

	expect_matrix("GET", path, NULL, (const long[]){200, 200, 200, 404});
	free(path);
	path = client_strf(CLIENT_V1 "/clinics/%s/providers", clinic_b1);
	expect_matrix("GET", path, NULL, (const long[]){200, 404, 404, 404});
	free(path);
}

/* --- clinics: writes ---------------------------------------------------------------------- */

static void
test_clinic_create_in_own_org_is_for_admins_only(void **state)
{
	char *path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org_a);

	expect_matrix("POST", path, "{\"name\":\"Made by %1$s\",\"code\":\"%1$s\"}",
		      (const long[]){201, 201, 403, 403});
	free(path);
}

static void
test_clinic_create_in_another_org_is_404_for_member_roles(void **state)
{
	char *path = client_strf(CLIENT_V1 "/organizations/%s/clinics", org_b);

	expect_matrix("POST", path, "{\"name\":\"Made by %1$s\",\"code\":\"%1$s\"}",
		      (const long[]){201, 404, 404, 404});
	free(path);
}

static void
test_clinic_patch_of_the_managed_clinic_is_allowed_to_its_manager(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_a1);

	expect_matrix("PATCH", path, "{\"phone\":\"+1 512 555 0199\"}",
		      (const long[]){200, 200, 200, 403});
	free(path);
}

static void
test_clinic_patch_of_an_unmanaged_clinic_is_403_for_its_orgs_manager(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_a2);

	expect_matrix("PATCH", path, "{\"phone\":\"+1 512 555 0198\"}",
		      (const long[]){200, 200, 403, 404});
	free(path);
}

static void
test_clinic_patch_in_another_org_is_404_even_for_a_manager_of_that_sub(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_b1);

	expect_matrix("PATCH", path, "{\"phone\":\"+1 512 555 0197\"}",
		      (const long[]){200, 404, 404, 404});
	free(path);
}

static void
test_clinic_delete_is_for_admins_only(void **state)
{
	char d1[25], d2[25], *path;

	client_new_clinic(
	    org_a, "{\"name\":\"Doomed One\",\"code\":\"DOOM-1\",\"managerUserId\":\"mgr-a\"}", d1);
	client_new_clinic(org_a, "{\"name\":\"Doomed Two\",\"code\":\"DOOM-2\"}", d2);
	/* a manager may change its clinic but not delete it; a provider sees A1, not A2 */
	path = client_strf(CLIENT_V1 "/clinics/%s", d1);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 0, 403, 404});
	expect_matrix("DELETE", path, NULL, (const long[]){0, 204, 0, 0});
	free(path);
	path = client_strf(CLIENT_V1 "/clinics/%s", d2);
	expect_matrix("DELETE", path, NULL, (const long[]){204, 0, 0, 0});
	free(path);
	path = client_strf(CLIENT_V1 "/clinics/%s", clinic_a1);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 0, 403, 403});
	free(path);
	still_there("clinics", clinic_a1);
}

static void
test_clinic_delete_in_another_org_is_404_for_member_roles(void **state)
{
	char *path = client_strf(CLIENT_V1 "/clinics/%s", clinic_b1);

	expect_matrix("DELETE", path, NULL, (const long[]){0, 404, 404, 404});
	free(path);
	still_there("clinics", clinic_b1);
}

/* --- assignments: writes ------------------------------------------------------------------ */

static void
test_assignment_create_at_own_org_clinics_by_role(void **state)
{
	char *a1 = client_strf(
	    "{\"providerId\":\"new-%%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", clinic_a1);
	char *a2 = client_strf(
	    "{\"providerId\":\"new2-%%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", clinic_a2);

	/* a clinic_manager assigns at the clinic it manages, not at another one */
	expect_matrix("POST", CLIENT_V1 "/assignments", a1, (const long[]){201, 201, 201, 403});
	expect_matrix("POST", CLIENT_V1 "/assignments", a2, (const long[]){201, 201, 403, 403});
	free(a1);
	free(a2);
}

static void
test_assignment_create_at_another_orgs_clinic_is_422_for_member_roles(void **state)
{
	char *b1 = client_strf(
	    "{\"providerId\":\"new3-%%s\",\"clinicId\":\"%s\",\"roles\":[\"DENTIST\"]}", clinic_b1);

	/* the clinic is a reference in the body: not visible is "does not exist" (422); a
	 * provider is refused before anything is looked at (403) */
	expect_matrix("POST", CLIENT_V1 "/assignments", b1, (const long[]){201, 422, 422, 403});
	free(b1);
}

static void
test_assignment_patch_at_the_managed_clinic_by_role(void **state)
{
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_a1);

	expect_matrix("PATCH", path, "{\"roles\":[\"HYGIENIST\"]}",
		      (const long[]){200, 200, 200, 403});
	free(path);
}

static void
test_assignment_patch_at_an_unmanaged_clinic_is_403_for_the_manager(void **state)
{
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_x2);

	expect_matrix("PATCH", path, "{\"roles\":[\"ASSISTANT\"]}",
		      (const long[]){200, 200, 403, 404});
	free(path);
}

static void
test_assignment_patch_in_another_org_is_404_for_member_roles(void **state)
{
	char *path = client_strf(CLIENT_V1 "/assignments/%s", asg_b1);

	expect_matrix("PATCH", path, "{\"roles\":[\"ASSISTANT\"]}",
		      (const long[]){200, 404, 404, 404});
	free(path);
}

static void
test_assignment_delete_by_role(void **state)
{
	char *path;

	path = client_strf(CLIENT_V1 "/assignments/%s", asg_b1);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 404, 404, 404});
	free(path);
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_a1);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 0, 0, 403});
	free(path);
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_x2);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 0, 403, 404});
	expect_matrix("DELETE", path, NULL, (const long[]){0, 200, 0, 0});
	free(path);
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_y1);
	expect_matrix("DELETE", path, NULL, (const long[]){0, 0, 200, 0});
	free(path);
	path = client_strf(CLIENT_V1 "/assignments/%s", asg_b1);
	expect_matrix("DELETE", path, NULL, (const long[]){200, 0, 0, 0});
	free(path);
	/* what the provider could not deactivate is still active */
	client_expect_ids(CLIENT_V1 "/providers/prov-a/clinics", tokens[PROVIDER],
			  (const char *const[]){asg_a1, NULL});
}

/* --- the end -------------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	struct harness_conf c = {.workers = 2};

	if (client_suite_start(&deps, &admin, &server, "roles", &c) == -1)
		return -1;
	return fixture();
}

static int
group_teardown(void **state)
{
	int k;

	for (k = 0; k < NROLES; k++)
		free(tokens[k]);
	return client_suite_stop(&deps, &admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clinic_get_where_the_provider_works_is_200_for_every_role),
	    cmocka_unit_test(
		test_clinic_get_of_own_org_without_the_providers_active_assignment_is_404_for_it),
	    cmocka_unit_test(test_clinic_get_of_another_org_is_404_for_every_member_role),
	    cmocka_unit_test(test_clinic_list_answers_exactly_the_clinics_each_role_sees),
	    cmocka_unit_test(test_clinic_list_asking_for_another_org_is_empty_for_member_roles),
	    cmocka_unit_test(test_org_clinic_list_of_own_org_answers_what_each_role_sees),
	    cmocka_unit_test(test_org_clinic_list_of_another_org_is_404_for_member_roles),
	    cmocka_unit_test(test_clinic_search_answers_exactly_the_clinics_each_role_sees),
	    cmocka_unit_test(test_assignment_get_of_the_providers_own_is_200_for_every_role),
	    cmocka_unit_test(test_assignment_get_of_another_provider_is_404_for_the_provider),
	    cmocka_unit_test(test_assignment_get_of_another_org_is_404_for_every_member_role),
	    cmocka_unit_test(test_assignment_list_answers_exactly_what_each_role_sees),
	    cmocka_unit_test(test_assignment_list_filters_cannot_widen_the_scope),
	    cmocka_unit_test(test_provider_clinics_answer_what_each_role_sees),
	    cmocka_unit_test(test_provider_clinics_of_another_provider_is_404_for_a_provider),
	    cmocka_unit_test(test_clinic_providers_answer_what_each_role_sees),
	    cmocka_unit_test(test_clinic_providers_hidden_from_a_role_are_404),
	    cmocka_unit_test(test_clinic_create_in_own_org_is_for_admins_only),
	    cmocka_unit_test(test_clinic_create_in_another_org_is_404_for_member_roles),
	    cmocka_unit_test(test_clinic_patch_of_the_managed_clinic_is_allowed_to_its_manager),
	    cmocka_unit_test(test_clinic_patch_of_an_unmanaged_clinic_is_403_for_its_orgs_manager),
	    cmocka_unit_test(
		test_clinic_patch_in_another_org_is_404_even_for_a_manager_of_that_sub),
	    cmocka_unit_test(test_clinic_delete_is_for_admins_only),
	    cmocka_unit_test(test_clinic_delete_in_another_org_is_404_for_member_roles),
	    cmocka_unit_test(test_assignment_create_at_own_org_clinics_by_role),
	    cmocka_unit_test(test_assignment_create_at_another_orgs_clinic_is_422_for_member_roles),
	    cmocka_unit_test(test_assignment_patch_at_the_managed_clinic_by_role),
	    cmocka_unit_test(test_assignment_patch_at_an_unmanaged_clinic_is_403_for_the_manager),
	    cmocka_unit_test(test_assignment_patch_in_another_org_is_404_for_member_roles),
	    cmocka_unit_test(test_assignment_delete_by_role),
	    cmocka_unit_test(client_test_sanitizer_logs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
