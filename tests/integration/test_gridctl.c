/* gridctl end to end, as a person or a script uses it: the tree of
 * 桐梓林社区 with its columns lined up despite Chinese names, tables, JSON
 * output, edits, import errors as FILE:LINE lines, export to a file, and the
 * documented exit codes. Every gridctl here acts as the harness's district
 * admin (itest_gridctl passes its session in GRID_TOKEN); logging in itself,
 * roles and their limits are test_gridctl_auth.c's. */
#include <stdio.h>

#include "common/utf8.h"
#include "tests/harness/itest.h"

#define GRIDCTL(f, in, out, err, ...)                                                              \
	itest_gridctl(&(f)->g, (in), (out), (err), (const char *const[]){__VA_ARGS__, NULL})

/* Display columns before the first occurrence of needle in line. */
static long column_of(const char *line, const char *needle)
{
	const char *p = strstr(line, needle);
	char buf[512];

	if (!p)
		return -1;
	snprintf(buf, sizeof(buf), "%.*s", (int)(p - line), line);
	return (long)utf8_width(buf);
}

TEST(tree_of_tongzilin_lines_up)
{
	struct itest_fix f;
	char *out, *err;
	long col = -1;
	int lines = 0;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, &err, "node", "tree", "WH-TZL"), 0);
	ASSERT_EQ_INT(itest_count_lines(out), 37);
	ASSERT(strstr(out, "桐梓林社区") == out);
	ASSERT(strstr(out, "梓潼苑") != NULL);
	ASSERT(strstr(out, "└── ") != NULL && strstr(out, "├── ") != NULL);
	/* The code column starts at the same display column on every line,
	 * whatever the width of the Chinese names before it. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		long c = column_of(line, "WH-TZL");
		ASSERT_MSG(c > 0, "no code on line: %s", line);
		if (col < 0)
			col = c;
		ASSERT_MSG(c == col, "code at column %ld, not %ld: %s", c, col, line);
		lines++;
	}
	ASSERT_EQ_INT(lines, 37);
	free(out);
	free(err);

	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "node", "tree", "WH-TZL", "--depth", "1"), 0);
	ASSERT_EQ_INT(itest_count_lines(out), 6);
	free(out);
	itest_teardown(&f);
}

TEST(tables_and_json)
{
	struct itest_fix f;
	char *out;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "node", "ls", "WH-TZL-Z5"), 0);
	/* Header plus four courtyards; the LEADER column lines up. */
	ASSERT_EQ_INT(itest_count_lines(out), 5);
	long col = column_of(out, "LEADER");
	ASSERT(col > 0);
	ASSERT_EQ_INT(column_of(strstr(out, "WH-TZL-Z5-ZTY "), "刘燕"),
		      col - column_of(out, "CODE"));
	free(out);

	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "--json", "node", "show", "WH-TZL-Z5-ZTY"), 0);
	ASSERT(strstr(out, "\"code\":\"WH-TZL-Z5-ZTY\"") != NULL);
	ASSERT(strstr(out, "\"name\":\"梓潼苑\"") != NULL);
	ASSERT(strstr(out, "\"child_count\":4") != NULL);
	free(out);

	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "--json", "node", "ls"), 0);
	ASSERT(out[0] == '[');
	ASSERT(strstr(out, "\"code\":\"WH\"") != NULL);
	free(out);
	itest_teardown(&f);
}

TEST(edits_through_gridctl)
{
	struct itest_fix f;
	char *out;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "add", "WH-TZL-Z5-FCD",
			      "WH-TZL-Z5-FCD-B3", "3栋", "--leader", "赵六", "--phone",
			      "13800000099"),
		      0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "rename", "WH-TZL-Z5-FCD-B3", "三栋"),
		      0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "leader", "WH-TZL-Z5-FCD-B3", "钱七"),
		      0);
	ASSERT_EQ_INT(
	    GRIDCTL(&f, NULL, NULL, NULL, "node", "mv", "WH-TZL-Z5-FCD-B3", "WH-TZL-Z5-ZTY"), 0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "--json", "node", "show", "WH-TZL-Z5-FCD-B3"),
		      0);
	ASSERT(strstr(out, "\"name\":\"三栋\"") != NULL);
	ASSERT(strstr(out, "\"leader_name\":\"钱七\"") != NULL);
	ASSERT(strstr(out, "\"parent_code\":\"WH-TZL-Z5-ZTY\"") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "retire", "WH-TZL-Z5-FCD-B3"), 0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "node", "ls", "WH-TZL-Z5-ZTY"), 0);
	ASSERT(strstr(out, "WH-TZL-Z5-FCD-B3") == NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "node", "ls", "WH-TZL-Z5-ZTY", "--all"), 0);
	ASSERT(strstr(out, "WH-TZL-Z5-FCD-B3") != NULL);
	free(out);
	itest_teardown(&f);
}

TEST(import_errors_name_file_and_line)
{
	struct itest_fix f;
	char path[600], *out, *err;
	FILE *fp;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	snprintf(path, sizeof(path), "%s/roster.csv", itest_tmpdir());
	fp = fopen(path, "w");
	fputs("code,parent_code,level,name,leader_name,leader_phone\n"
	      "WH-TZL-Z6,WH-TZL,zone,第六片区,甲,13800000300\n"
	      "WH-TZL-Z6-A,WH-TZL-Z9,courtyard,新院,乙,13800000301\n"
	      "WH-TZL-Z6-B,WH-TZL-Z6,street,新街,丙,13800000302\n",
	      fp);
	fclose(fp);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, &err, "grid", "import", path), 6);
	char want[700];
	snprintf(want, sizeof(want), "%s:3: parent_code:", path);
	ASSERT_MSG(strstr(err, want) != NULL, "no '%s' in: %s", want, err);
	snprintf(want, sizeof(want), "%s:4: level:", path);
	ASSERT_MSG(strstr(err, want) != NULL, "no '%s' in: %s", want, err);
	free(out);
	free(err);
	/* Nothing was imported, not even the good line. */
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "show", "WH-TZL-Z6"), 3);

	/* A good roster from stdin, dry run first. */
	const char *good = "code,parent_code,level,name,leader_name,leader_phone\n"
			   "WH-TZL-Z6,WH-TZL,zone,第六片区,甲,13800000300\n";
	ASSERT_EQ_INT(GRIDCTL(&f, good, &out, NULL, "grid", "import", "-", "--dry-run"), 0);
	ASSERT(strstr(out, "created 1") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "show", "WH-TZL-Z6"), 3);
	ASSERT_EQ_INT(GRIDCTL(&f, good, &out, NULL, "grid", "import", "-"), 0);
	ASSERT(strstr(out, "created 1") != NULL);
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "show", "WH-TZL-Z6"), 0);
	itest_teardown(&f);
}

TEST(export_to_a_file_round_trips)
{
	struct itest_fix f;
	char path[600], *out, *file;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	snprintf(path, sizeof(path), "%s/wuhou.csv", itest_tmpdir());
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "grid", "export", "-o", path), 0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "grid", "export"), 0);
	file = itest_read_file(path, NULL);
	ASSERT_EQ_STR(file, out);
	ASSERT_EQ_INT(itest_count_lines(file), 52);
	/* Importing the export changes nothing. */
	free(out);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "grid", "import", path), 0);
	ASSERT(strstr(out, "created 0, updated 0, unchanged 51") != NULL);
	free(out);
	free(file);
	itest_teardown(&f);
}

TEST(exit_codes)
{
	struct itest_fix f;

	itest_setup(&f, NULL, ITEST_WITH_SAMPLE);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "ping"), 0);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "frobnicate"), 2);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "show"), 2);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "show", "WH-NOPE"), 3);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "retire", "WH-TZL"), 6);
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, NULL, NULL, "node", "add", "WH-TZL", "WH-TZL-Z1", "dup"),
		      6);
	char *out;
	ASSERT_EQ_INT(GRIDCTL(&f, NULL, &out, NULL, "node", "--help"), 0);
	ASSERT(strstr(out, "Usage") != NULL);
	free(out);
	itest_teardown(&f);

	/* Nobody listening any more. */
	const char *const args[] = {"--server", "127.0.0.1:1", "ping", NULL};
	ASSERT_EQ_INT(itest_gridctl(NULL, NULL, NULL, NULL, args), 5);
}
