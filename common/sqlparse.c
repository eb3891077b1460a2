/*-------------------------------------------------------------------------
 *
 * sqlparse.c
 *	  Reading SQL with PostgreSQL's own parser (libpg_query): the statements
 *	  of a script.
 *
 * The script is parsed once, as a whole, with pg_query_parse_protobuf() on
 * the parser's thread (parser_thread.c); the unpacked tree is kept for
 * callers that look deeper.  Each RawStmt gives a byte range of the source
 * that starts right after the previous semicolon (so it may begin with blank
 * space and comments) and stops before its own semicolon (or runs to the end
 * of the input when stmt_len is 0).  To trim that range to the statement's
 * first and last tokens exactly, the source is also run through
 * pg_query_scan(), PostgreSQL's own lexer (sqllex.c): it knows where
 * comments, strings, dollar quotes and E'' escapes begin and end, which no
 * hand-written skipper matches in every case.
 *
 * Only token start offsets are trusted: pg_query_scan() reports an empty
 * extent for some tokens (U&'...' strings come back with end == start), so
 * a statement ends where its trailing comments begin, or where its range
 * ends, less trailing blank space.
 *
 * The fast path.  The lexer pass costs about as much as the parse of a short
 * migration, and a script of at most SQL_PARSE_SMALL_BYTES cannot break the
 * limits it measures.  Such a script is parsed first without it; each range
 * then begins with only white space and comments before the first token
 * (the grammar puts nothing else after a semicolon), which a few lines skip
 * exactly, and ends at its last token unless a comment may follow it, which
 * is seen from the text ("--" on the range's last line, "*\/" at its end).
 * Whatever the fast path is not certain of, and every script that does not
 * parse, goes the full way, so statements and errors are what they were.
 *
 * Positions and errors are counted in sqlpos.c, which also defines
 * sql_offset_to_line_col(); parser_thread.c defines
 * sql_call_on_parser_stack().
 *
 * common/sqlparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlparse.h"

#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"
#include "parser_thread.h"
#include "sqllex.h"
#include "sqlpos.h"

/* a script this large has its freed memory trimmed around the parse */
#define TRIM_AFTER_BYTES ((size_t) 1 << 20)

/*
 * Names of the parse nodes, indexed by PgQuery__Node__NodeCase.  Generated
 * from the json_name of each member of "oneof node" in libpg_query 15's
 * pg_query.proto (PostgreSQL's own node names, e.g. "A_Const",
 * "SQLValueFunction", which a CamelCase conversion of the field names would
 * get wrong).  The designated initialisers fail to compile if a constant
 * disappears from a newer pg_query.pb-c.h; new node kinds read as "Unknown".
 */
static const char *const node_kind_names[] = {
	[PG_QUERY__NODE__NODE_ALIAS] = "Alias",
	[PG_QUERY__NODE__NODE_RANGE_VAR] = "RangeVar",
	[PG_QUERY__NODE__NODE_TABLE_FUNC] = "TableFunc",
	[PG_QUERY__NODE__NODE_VAR] = "Var",
	[PG_QUERY__NODE__NODE_PARAM] = "Param",
	[PG_QUERY__NODE__NODE_AGGREF] = "Aggref",
	[PG_QUERY__NODE__NODE_GROUPING_FUNC] = "GroupingFunc",
	[PG_QUERY__NODE__NODE_WINDOW_FUNC] = "WindowFunc",
	[PG_QUERY__NODE__NODE_SUBSCRIPTING_REF] = "SubscriptingRef",
	[PG_QUERY__NODE__NODE_FUNC_EXPR] = "FuncExpr",
	[PG_QUERY__NODE__NODE_NAMED_ARG_EXPR] = "NamedArgExpr",
	[PG_QUERY__NODE__NODE_OP_EXPR] = "OpExpr",
	[PG_QUERY__NODE__NODE_DISTINCT_EXPR] = "DistinctExpr",
	[PG_QUERY__NODE__NODE_NULL_IF_EXPR] = "NullIfExpr",
	[PG_QUERY__NODE__NODE_SCALAR_ARRAY_OP_EXPR] = "ScalarArrayOpExpr",
	[PG_QUERY__NODE__NODE_BOOL_EXPR] = "BoolExpr",
	[PG_QUERY__NODE__NODE_SUB_LINK] = "SubLink",
	[PG_QUERY__NODE__NODE_SUB_PLAN] = "SubPlan",
	[PG_QUERY__NODE__NODE_ALTERNATIVE_SUB_PLAN] = "AlternativeSubPlan",
	[PG_QUERY__NODE__NODE_FIELD_SELECT] = "FieldSelect",
	[PG_QUERY__NODE__NODE_FIELD_STORE] = "FieldStore",
	[PG_QUERY__NODE__NODE_RELABEL_TYPE] = "RelabelType",
	[PG_QUERY__NODE__NODE_COERCE_VIA_IO] = "CoerceViaIO",
	[PG_QUERY__NODE__NODE_ARRAY_COERCE_EXPR] = "ArrayCoerceExpr",
	[PG_QUERY__NODE__NODE_CONVERT_ROWTYPE_EXPR] = "ConvertRowtypeExpr",
	[PG_QUERY__NODE__NODE_COLLATE_EXPR] = "CollateExpr",
	[PG_QUERY__NODE__NODE_CASE_EXPR] = "CaseExpr",
	[PG_QUERY__NODE__NODE_CASE_WHEN] = "CaseWhen",
	[PG_QUERY__NODE__NODE_CASE_TEST_EXPR] = "CaseTestExpr",
	[PG_QUERY__NODE__NODE_ARRAY_EXPR] = "ArrayExpr",
	[PG_QUERY__NODE__NODE_ROW_EXPR] = "RowExpr",
	[PG_QUERY__NODE__NODE_ROW_COMPARE_EXPR] = "RowCompareExpr",
	[PG_QUERY__NODE__NODE_COALESCE_EXPR] = "CoalesceExpr",
	[PG_QUERY__NODE__NODE_MIN_MAX_EXPR] = "MinMaxExpr",
	[PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION] = "SQLValueFunction",
	[PG_QUERY__NODE__NODE_XML_EXPR] = "XmlExpr",
	[PG_QUERY__NODE__NODE_NULL_TEST] = "NullTest",
	[PG_QUERY__NODE__NODE_BOOLEAN_TEST] = "BooleanTest",
	[PG_QUERY__NODE__NODE_COERCE_TO_DOMAIN] = "CoerceToDomain",
	[PG_QUERY__NODE__NODE_COERCE_TO_DOMAIN_VALUE] = "CoerceToDomainValue",
	[PG_QUERY__NODE__NODE_SET_TO_DEFAULT] = "SetToDefault",
	[PG_QUERY__NODE__NODE_CURRENT_OF_EXPR] = "CurrentOfExpr",
	[PG_QUERY__NODE__NODE_NEXT_VALUE_EXPR] = "NextValueExpr",
	[PG_QUERY__NODE__NODE_INFERENCE_ELEM] = "InferenceElem",
	[PG_QUERY__NODE__NODE_TARGET_ENTRY] = "TargetEntry",
	[PG_QUERY__NODE__NODE_RANGE_TBL_REF] = "RangeTblRef",
	[PG_QUERY__NODE__NODE_JOIN_EXPR] = "JoinExpr",
	[PG_QUERY__NODE__NODE_FROM_EXPR] = "FromExpr",
	[PG_QUERY__NODE__NODE_ON_CONFLICT_EXPR] = "OnConflictExpr",
	[PG_QUERY__NODE__NODE_INTO_CLAUSE] = "IntoClause",
	[PG_QUERY__NODE__NODE_MERGE_ACTION] = "MergeAction",
	[PG_QUERY__NODE__NODE_RAW_STMT] = "RawStmt",
	[PG_QUERY__NODE__NODE_QUERY] = "Query",
	[PG_QUERY__NODE__NODE_INSERT_STMT] = "InsertStmt",
	[PG_QUERY__NODE__NODE_DELETE_STMT] = "DeleteStmt",
	[PG_QUERY__NODE__NODE_UPDATE_STMT] = "UpdateStmt",
	[PG_QUERY__NODE__NODE_MERGE_STMT] = "MergeStmt",
	[PG_QUERY__NODE__NODE_SELECT_STMT] = "SelectStmt",
	[PG_QUERY__NODE__NODE_RETURN_STMT] = "ReturnStmt",
	[PG_QUERY__NODE__NODE_PLASSIGN_STMT] = "PLAssignStmt",
	[PG_QUERY__NODE__NODE_ALTER_TABLE_STMT] = "AlterTableStmt",
	[PG_QUERY__NODE__NODE_ALTER_TABLE_CMD] = "AlterTableCmd",
	[PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT] = "AlterDomainStmt",
	[PG_QUERY__NODE__NODE_SET_OPERATION_STMT] = "SetOperationStmt",
	[PG_QUERY__NODE__NODE_GRANT_STMT] = "GrantStmt",
	[PG_QUERY__NODE__NODE_GRANT_ROLE_STMT] = "GrantRoleStmt",
	[PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT] = "AlterDefaultPrivilegesStmt",
	[PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT] = "ClosePortalStmt",
	[PG_QUERY__NODE__NODE_CLUSTER_STMT] = "ClusterStmt",
	[PG_QUERY__NODE__NODE_COPY_STMT] = "CopyStmt",
	[PG_QUERY__NODE__NODE_CREATE_STMT] = "CreateStmt",
	[PG_QUERY__NODE__NODE_DEFINE_STMT] = "DefineStmt",
	[PG_QUERY__NODE__NODE_DROP_STMT] = "DropStmt",
	[PG_QUERY__NODE__NODE_TRUNCATE_STMT] = "TruncateStmt",
	[PG_QUERY__NODE__NODE_COMMENT_STMT] = "CommentStmt",
	[PG_QUERY__NODE__NODE_FETCH_STMT] = "FetchStmt",
	[PG_QUERY__NODE__NODE_INDEX_STMT] = "IndexStmt",
	[PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT] = "CreateFunctionStmt",
	[PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT] = "AlterFunctionStmt",
	[PG_QUERY__NODE__NODE_DO_STMT] = "DoStmt",
	[PG_QUERY__NODE__NODE_RENAME_STMT] = "RenameStmt",
	[PG_QUERY__NODE__NODE_RULE_STMT] = "RuleStmt",
	[PG_QUERY__NODE__NODE_NOTIFY_STMT] = "NotifyStmt",
	[PG_QUERY__NODE__NODE_LISTEN_STMT] = "ListenStmt",
	[PG_QUERY__NODE__NODE_UNLISTEN_STMT] = "UnlistenStmt",
	[PG_QUERY__NODE__NODE_TRANSACTION_STMT] = "TransactionStmt",
	[PG_QUERY__NODE__NODE_VIEW_STMT] = "ViewStmt",
	[PG_QUERY__NODE__NODE_LOAD_STMT] = "LoadStmt",
	[PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT] = "CreateDomainStmt",
	[PG_QUERY__NODE__NODE_CREATEDB_STMT] = "CreatedbStmt",
	[PG_QUERY__NODE__NODE_DROPDB_STMT] = "DropdbStmt",
	[PG_QUERY__NODE__NODE_VACUUM_STMT] = "VacuumStmt",
	[PG_QUERY__NODE__NODE_EXPLAIN_STMT] = "ExplainStmt",
	[PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT] = "CreateTableAsStmt",
	[PG_QUERY__NODE__NODE_CREATE_SEQ_STMT] = "CreateSeqStmt",
	[PG_QUERY__NODE__NODE_ALTER_SEQ_STMT] = "AlterSeqStmt",
	[PG_QUERY__NODE__NODE_VARIABLE_SET_STMT] = "VariableSetStmt",
	[PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT] = "VariableShowStmt",
	[PG_QUERY__NODE__NODE_DISCARD_STMT] = "DiscardStmt",
	[PG_QUERY__NODE__NODE_CREATE_TRIG_STMT] = "CreateTrigStmt",
	[PG_QUERY__NODE__NODE_CREATE_PLANG_STMT] = "CreatePLangStmt",
	[PG_QUERY__NODE__NODE_CREATE_ROLE_STMT] = "CreateRoleStmt",
	[PG_QUERY__NODE__NODE_ALTER_ROLE_STMT] = "AlterRoleStmt",
	[PG_QUERY__NODE__NODE_DROP_ROLE_STMT] = "DropRoleStmt",
	[PG_QUERY__NODE__NODE_LOCK_STMT] = "LockStmt",
	[PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT] = "ConstraintsSetStmt",
	[PG_QUERY__NODE__NODE_REINDEX_STMT] = "ReindexStmt",
	[PG_QUERY__NODE__NODE_CHECK_POINT_STMT] = "CheckPointStmt",
	[PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT] = "CreateSchemaStmt",
	[PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT] = "AlterDatabaseStmt",
	[PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT] = "AlterDatabaseRefreshCollStmt",
	[PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT] = "AlterDatabaseSetStmt",
	[PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT] = "AlterRoleSetStmt",
	[PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT] = "CreateConversionStmt",
	[PG_QUERY__NODE__NODE_CREATE_CAST_STMT] = "CreateCastStmt",
	[PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT] = "CreateOpClassStmt",
	[PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT] = "CreateOpFamilyStmt",
	[PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT] = "AlterOpFamilyStmt",
	[PG_QUERY__NODE__NODE_PREPARE_STMT] = "PrepareStmt",
	[PG_QUERY__NODE__NODE_EXECUTE_STMT] = "ExecuteStmt",
	[PG_QUERY__NODE__NODE_DEALLOCATE_STMT] = "DeallocateStmt",
	[PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT] = "DeclareCursorStmt",
	[PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT] = "CreateTableSpaceStmt",
	[PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT] = "DropTableSpaceStmt",
	[PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT] = "AlterObjectDependsStmt",
	[PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT] = "AlterObjectSchemaStmt",
	[PG_QUERY__NODE__NODE_ALTER_OWNER_STMT] = "AlterOwnerStmt",
	[PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT] = "AlterOperatorStmt",
	[PG_QUERY__NODE__NODE_ALTER_TYPE_STMT] = "AlterTypeStmt",
	[PG_QUERY__NODE__NODE_DROP_OWNED_STMT] = "DropOwnedStmt",
	[PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT] = "ReassignOwnedStmt",
	[PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT] = "CompositeTypeStmt",
	[PG_QUERY__NODE__NODE_CREATE_ENUM_STMT] = "CreateEnumStmt",
	[PG_QUERY__NODE__NODE_CREATE_RANGE_STMT] = "CreateRangeStmt",
	[PG_QUERY__NODE__NODE_ALTER_ENUM_STMT] = "AlterEnumStmt",
	[PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT] = "AlterTSDictionaryStmt",
	[PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT] = "AlterTSConfigurationStmt",
	[PG_QUERY__NODE__NODE_CREATE_FDW_STMT] = "CreateFdwStmt",
	[PG_QUERY__NODE__NODE_ALTER_FDW_STMT] = "AlterFdwStmt",
	[PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT] = "CreateForeignServerStmt",
	[PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT] = "AlterForeignServerStmt",
	[PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT] = "CreateUserMappingStmt",
	[PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT] = "AlterUserMappingStmt",
	[PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT] = "DropUserMappingStmt",
	[PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT] = "AlterTableSpaceOptionsStmt",
	[PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT] = "AlterTableMoveAllStmt",
	[PG_QUERY__NODE__NODE_SEC_LABEL_STMT] = "SecLabelStmt",
	[PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT] = "CreateForeignTableStmt",
	[PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT] = "ImportForeignSchemaStmt",
	[PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT] = "CreateExtensionStmt",
	[PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT] = "AlterExtensionStmt",
	[PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT] = "AlterExtensionContentsStmt",
	[PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT] = "CreateEventTrigStmt",
	[PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT] = "AlterEventTrigStmt",
	[PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT] = "RefreshMatViewStmt",
	[PG_QUERY__NODE__NODE_REPLICA_IDENTITY_STMT] = "ReplicaIdentityStmt",
	[PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT] = "AlterSystemStmt",
	[PG_QUERY__NODE__NODE_CREATE_POLICY_STMT] = "CreatePolicyStmt",
	[PG_QUERY__NODE__NODE_ALTER_POLICY_STMT] = "AlterPolicyStmt",
	[PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT] = "CreateTransformStmt",
	[PG_QUERY__NODE__NODE_CREATE_AM_STMT] = "CreateAmStmt",
	[PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT] = "CreatePublicationStmt",
	[PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT] = "AlterPublicationStmt",
	[PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT] = "CreateSubscriptionStmt",
	[PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT] = "AlterSubscriptionStmt",
	[PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT] = "DropSubscriptionStmt",
	[PG_QUERY__NODE__NODE_CREATE_STATS_STMT] = "CreateStatsStmt",
	[PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT] = "AlterCollationStmt",
	[PG_QUERY__NODE__NODE_CALL_STMT] = "CallStmt",
	[PG_QUERY__NODE__NODE_ALTER_STATS_STMT] = "AlterStatsStmt",
	[PG_QUERY__NODE__NODE_A_EXPR] = "A_Expr",
	[PG_QUERY__NODE__NODE_COLUMN_REF] = "ColumnRef",
	[PG_QUERY__NODE__NODE_PARAM_REF] = "ParamRef",
	[PG_QUERY__NODE__NODE_FUNC_CALL] = "FuncCall",
	[PG_QUERY__NODE__NODE_A_STAR] = "A_Star",
	[PG_QUERY__NODE__NODE_A_INDICES] = "A_Indices",
	[PG_QUERY__NODE__NODE_A_INDIRECTION] = "A_Indirection",
	[PG_QUERY__NODE__NODE_A_ARRAY_EXPR] = "A_ArrayExpr",
	[PG_QUERY__NODE__NODE_RES_TARGET] = "ResTarget",
	[PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF] = "MultiAssignRef",
	[PG_QUERY__NODE__NODE_TYPE_CAST] = "TypeCast",
	[PG_QUERY__NODE__NODE_COLLATE_CLAUSE] = "CollateClause",
	[PG_QUERY__NODE__NODE_SORT_BY] = "SortBy",
	[PG_QUERY__NODE__NODE_WINDOW_DEF] = "WindowDef",
	[PG_QUERY__NODE__NODE_RANGE_SUBSELECT] = "RangeSubselect",
	[PG_QUERY__NODE__NODE_RANGE_FUNCTION] = "RangeFunction",
	[PG_QUERY__NODE__NODE_RANGE_TABLE_SAMPLE] = "RangeTableSample",
	[PG_QUERY__NODE__NODE_RANGE_TABLE_FUNC] = "RangeTableFunc",
	[PG_QUERY__NODE__NODE_RANGE_TABLE_FUNC_COL] = "RangeTableFuncCol",
	[PG_QUERY__NODE__NODE_TYPE_NAME] = "TypeName",
	[PG_QUERY__NODE__NODE_COLUMN_DEF] = "ColumnDef",
	[PG_QUERY__NODE__NODE_INDEX_ELEM] = "IndexElem",
	[PG_QUERY__NODE__NODE_STATS_ELEM] = "StatsElem",
	[PG_QUERY__NODE__NODE_CONSTRAINT] = "Constraint",
	[PG_QUERY__NODE__NODE_DEF_ELEM] = "DefElem",
	[PG_QUERY__NODE__NODE_RANGE_TBL_ENTRY] = "RangeTblEntry",
	[PG_QUERY__NODE__NODE_RANGE_TBL_FUNCTION] = "RangeTblFunction",
	[PG_QUERY__NODE__NODE_TABLE_SAMPLE_CLAUSE] = "TableSampleClause",
	[PG_QUERY__NODE__NODE_WITH_CHECK_OPTION] = "WithCheckOption",
	[PG_QUERY__NODE__NODE_SORT_GROUP_CLAUSE] = "SortGroupClause",
	[PG_QUERY__NODE__NODE_GROUPING_SET] = "GroupingSet",
	[PG_QUERY__NODE__NODE_WINDOW_CLAUSE] = "WindowClause",
	[PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS] = "ObjectWithArgs",
	[PG_QUERY__NODE__NODE_ACCESS_PRIV] = "AccessPriv",
	[PG_QUERY__NODE__NODE_CREATE_OP_CLASS_ITEM] = "CreateOpClassItem",
	[PG_QUERY__NODE__NODE_TABLE_LIKE_CLAUSE] = "TableLikeClause",
	[PG_QUERY__NODE__NODE_FUNCTION_PARAMETER] = "FunctionParameter",
	[PG_QUERY__NODE__NODE_LOCKING_CLAUSE] = "LockingClause",
	[PG_QUERY__NODE__NODE_ROW_MARK_CLAUSE] = "RowMarkClause",
	[PG_QUERY__NODE__NODE_XML_SERIALIZE] = "XmlSerialize",
	[PG_QUERY__NODE__NODE_WITH_CLAUSE] = "WithClause",
	[PG_QUERY__NODE__NODE_INFER_CLAUSE] = "InferClause",
	[PG_QUERY__NODE__NODE_ON_CONFLICT_CLAUSE] = "OnConflictClause",
	[PG_QUERY__NODE__NODE_CTESEARCH_CLAUSE] = "CTESearchClause",
	[PG_QUERY__NODE__NODE_CTECYCLE_CLAUSE] = "CTECycleClause",
	[PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR] = "CommonTableExpr",
	[PG_QUERY__NODE__NODE_MERGE_WHEN_CLAUSE] = "MergeWhenClause",
	[PG_QUERY__NODE__NODE_ROLE_SPEC] = "RoleSpec",
	[PG_QUERY__NODE__NODE_TRIGGER_TRANSITION] = "TriggerTransition",
	[PG_QUERY__NODE__NODE_PARTITION_ELEM] = "PartitionElem",
	[PG_QUERY__NODE__NODE_PARTITION_SPEC] = "PartitionSpec",
	[PG_QUERY__NODE__NODE_PARTITION_BOUND_SPEC] = "PartitionBoundSpec",
	[PG_QUERY__NODE__NODE_PARTITION_RANGE_DATUM] = "PartitionRangeDatum",
	[PG_QUERY__NODE__NODE_PARTITION_CMD] = "PartitionCmd",
	[PG_QUERY__NODE__NODE_VACUUM_RELATION] = "VacuumRelation",
	[PG_QUERY__NODE__NODE_PUBLICATION_OBJ_SPEC] = "PublicationObjSpec",
	[PG_QUERY__NODE__NODE_PUBLICATION_TABLE] = "PublicationTable",
	[PG_QUERY__NODE__NODE_INLINE_CODE_BLOCK] = "InlineCodeBlock",
	[PG_QUERY__NODE__NODE_CALL_CONTEXT] = "CallContext",
	[PG_QUERY__NODE__NODE_INTEGER] = "Integer",
	[PG_QUERY__NODE__NODE_FLOAT] = "Float",
	[PG_QUERY__NODE__NODE_BOOLEAN] = "Boolean",
	[PG_QUERY__NODE__NODE_STRING] = "String",
	[PG_QUERY__NODE__NODE_BIT_STRING] = "BitString",
	[PG_QUERY__NODE__NODE_LIST] = "List",
	[PG_QUERY__NODE__NODE_INT_LIST] = "IntList",
	[PG_QUERY__NODE__NODE_OID_LIST] = "OidList",
	[PG_QUERY__NODE__NODE_A_CONST] = "A_Const",
};

#define N_NODE_KIND_NAMES ((int) (sizeof(node_kind_names) / sizeof(node_kind_names[0])))

static const char *
node_kind_name(const PgQuery__Node *node)
{
	int node_case;

	if (node == NULL)
		return "Unknown";
	node_case = (int) node->node_case;
	if (node_case <= 0 || node_case >= N_NODE_KIND_NAMES || node_kind_names[node_case] == NULL)
		return "Unknown";
	return node_kind_names[node_case];
}

/* Fill st, the statement i of tree, text[first, end). */
static void
fill_statement(sql_statement *st, const char *text, int bom_len, sql_pos *pos, int first, int end,
			   const PgQuery__RawStmt *raw, size_t i)
{
	sqlpos_advance(text, pos, first);
	st->text = xstrndup(text + first, (size_t) (end - first));
	st->offset = first + bom_len;
	st->line = pos->line;
	st->column = first - pos->line_start + 1;
	st->kind = node_kind_name(raw->stmt);
	st->tree_index = (int) i;
}

/* The byte range of statement raw: from after the previous ';', to its own ';' or the end. */
static void
raw_range(const PgQuery__RawStmt *raw, int text_len, int *start, int *end)
{
	*start = raw->stmt_location;
	*end = raw->stmt_len > 0 ? raw->stmt_location + raw->stmt_len : text_len;
}

/*
 * Find the statements of tree in text, using the lexer's tokens scan.
 * Fills out->stmts and out->n_stmts.  Returns false (with err filled) only
 * if a statement has no token; that should not happen, but a wrong
 * statement text must never be returned.
 */
static bool
locate_statements(const char *text, int text_len, int bom_len, const PgQuery__ParseResult *tree,
				  const sql_token_list *scan, sql_script *out, sql_parse_error *err)
{
	sql_pos pos = {0, 1, 0};
	size_t  tok = 0;

	out->stmts = xcalloc(tree->n_stmts, sizeof(sql_statement));
	for (size_t i = 0; i < tree->n_stmts; i++)
	{
		int range_start, range_end;
		int first = -1;
		int trailing_comment = -1;
		int end;

		raw_range(tree->stmts[i], text_len, &range_start, &range_end);
		/* skip the semicolons between statements */
		while (tok < scan->n_tokens && scan->tokens[tok].start < range_start)
			tok++;
		for (; tok < scan->n_tokens && scan->tokens[tok].start < range_end; tok++)
		{
			const sql_token *t = &scan->tokens[tok];

			if (sqllex_is_comment(t))
			{
				if (trailing_comment < 0)
					trailing_comment = t->start;
			}
			else
			{
				if (first < 0)
					first = t->start;
				trailing_comment = -1;
			}
		}
		if (first < 0)
		{
			sqlpos_set_error(text, bom_len, "could not find the tokens of a statement", range_start, err);
			return false;
		}

		/* only blank space lies between the last token and end */
		end = trailing_comment >= 0 ? trailing_comment : range_end;
		while (end > first && sqlpos_is_space(text[end - 1]))
			end--;
		fill_statement(&out->stmts[i], text, bom_len, &pos, first, end, tree->stmts[i], i);
		out->n_stmts = (int) i + 1;
	}
	return true;
}

/*
 * The end of the C comment that starts at text[i], nested as
 * PostgreSQL nests them; -1 when it does not close before to.
 */
static int
skip_c_comment(const char *text, int i, int to)
{
	int depth = 0;

	do
	{
		if (i + 1 < to && text[i] == '/' && text[i + 1] == '*')
		{
			depth++;
			i += 2;
		}
		else if (i + 1 < to && text[i] == '*' && text[i + 1] == '/')
		{
			depth--;
			i += 2;
		}
		else
			i++;
	} while (depth > 0 && i < to);
	return depth > 0 ? -1 : i;
}

/*
 * The first token in text[from, to) as PostgreSQL's lexer finds it there,
 * where only white space and comments can precede it (the start of a
 * statement's range): past [ \t\n\r\f], "--" comments to the end of the
 * line, and nested C comments.  -1 when that is not certain: another
 * control character (the lexer's idea of white space is its own: \v is
 * not), an unclosed comment, no token before to.
 */
static int
first_token(const char *text, int from, int to)
{
	int i = from;

	while (i >= 0 && i < to)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')
			i++;
		else if (c == '-' && i + 1 < to && text[i + 1] == '-')
			i += (int) strcspn(text + i, "\r\n");
		else if (c == '/' && i + 1 < to && text[i + 1] == '*')
			i = skip_c_comment(text, i, to);
		else if (c < 0x20 || c == 0x7f)
			return -1;
		else
			return i;
	}
	return -1;
}

/*
 * Where the statement that starts at first ends, its range ending at
 * range_end: the range less trailing blank space, when no comment can
 * follow its last token; -1 when one may ("--" on the range's last line,
 * or "*\/" at its end: only the lexer can tell a comment from a string).
 */
static int
statement_end(const char *text, int first, int range_end)
{
	int end = range_end;
	int line;

	while (end > first && sqlpos_is_space(text[end - 1]))
		end--;
	if (end - first >= 2 && text[end - 2] == '*' && text[end - 1] == '/')
		return -1;
	for (line = end; line > first && text[line - 1] != '\n' && text[line - 1] != '\r'; line--)
		;
	for (int i = line; i + 1 < end; i++)
		if (text[i] == '-' && text[i + 1] == '-')
			return -1;
	return end;
}

/*
 * locate_statements() without the lexer's tokens, for the fast path: the
 * same statements, or false when one cannot be placed for certain (the
 * caller then takes the path with the lexer).
 */
static bool
place_statements(const char *text, int text_len, int bom_len, const PgQuery__ParseResult *tree,
				 sql_script *out)
{
	sql_pos pos = {0, 1, 0};

	out->stmts = xcalloc(tree->n_stmts, sizeof(sql_statement));
	for (size_t i = 0; i < tree->n_stmts; i++)
	{
		int range_start, range_end;
		int first;
		int end;

		raw_range(tree->stmts[i], text_len, &range_start, &range_end);
		first = first_token(text, range_start, range_end);
		end = first < 0 ? -1 : statement_end(text, first, range_end);
		if (end < 0)
			return false;
		fill_statement(&out->stmts[i], text, bom_len, &pos, first, end, tree->stmts[i], i);
		out->n_stmts = (int) i + 1;
	}
	return true;
}

/*
 * The fast path of sql_parse_script() for a text of at most
 * SQL_PARSE_SMALL_BYTES: the parser alone, no lexer pass (no such text can
 * break a limit the lexer's tokens measure).  True with *out filled; false
 * with *out empty when the text does not parse or a statement cannot be
 * placed without the tokens: the lexer's path then decides, and reports
 * any error exactly as it always has (a lexer error before a syntax error
 * earlier in the text, for one).
 */
static bool
parse_small(const char *text, size_t text_len, int bom_len, sql_script *out)
{
	out->tree = parser_thread_parse_small(text, text_len, &out->tree_arena);
	if (out->tree == NULL)
		return false;
	if (out->tree->n_stmts > 0 && !place_statements(text, (int) text_len, bom_len, out->tree, out))
	{
		sql_script_free(out);
		return false;
	}
	return true;
}

/*
 * Parse source into statements; see sqlparse.h.  A leading UTF-8 BOM is
 * skipped (offsets still count it; line 1 starts after it).  On failure
 * *out is left empty (all zero); on success *err is left empty.
 */
bool
sql_parse_script(const char *source, sql_script *out, sql_parse_error *err)
{
	int         bom_len = sqlpos_bom_length(source);
	const char *text = source + bom_len;
	size_t      text_len = strlen(text);

	memset(out, 0, sizeof(*out));
	if (text_len <= SQL_PARSE_SMALL_BYTES && parse_small(text, text_len, bom_len, out))
	{
		memset(err, 0, sizeof(*err));
		err->offset = -1;
		return true;
	}
	return sql_parse_script_lexed(source, out, err);
}

/* See sqlparse.h: the lexer first, then the parser. */
bool
sql_parse_script_lexed(const char *source, sql_script *out, sql_parse_error *err)
{
	int            bom_len = sqlpos_bom_length(source);
	const char    *text = source + bom_len;
	size_t         text_len = strlen(text);
	sql_token_list scan = {NULL, 0};
	bool           ok;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	err->offset = -1;

	/* offsets are ints, in the parser as here */
	if (text_len > (size_t) INT_MAX - SQLPOS_UTF8_BOM_LEN)
	{
		sqlpos_set_limit_error(text, bom_len, "script is too large to parse", -1, err);
		return false;
	}

	/* the lexer first: a script it refuses never reaches the parser */
	if (!sqllex_scan(text, bom_len, &scan, err))
		return false;

	/*
	 * The parser's thread allocates in a malloc arena of its own, which
	 * cannot reuse what the lexer freed in this one, nor this one what the
	 * parser freed there: for a large script, hand both back to the system
	 * (before and after), so that the peak stays what one arena would have.
	 */
	if (text_len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	out->tree = parser_thread_parse(text, bom_len, &scan, err, &out->tree_arena);
	if (text_len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	ok = out->tree != NULL;
	if (ok && out->tree->n_stmts > 0 &&
		!locate_statements(text, (int) text_len, bom_len, out->tree, &scan, out, err))
	{
		sql_script_free(out);
		ok = false;
	}
	free(scan.tokens);
	return ok;
}

/*
 * Free everything a successful sql_parse_script() put into script, tree
 * included, and leave it empty.  Accepts NULL and an empty script.  Does not
 * call pg_query_exit(): the parser's per-thread memory stays for reuse.
 */
void
sql_script_free(sql_script *script)
{
	if (script == NULL)
		return;
	for (int i = 0; i < script->n_stmts; i++)
		free(script->stmts[i].text);
	free(script->stmts);
	parser_arena_free(script->tree_arena);
	script->stmts = NULL;
	script->n_stmts = 0;
	script->tree = NULL;
	script->tree_arena = NULL;
}

/* Free the strings of err and leave it empty.  Accepts NULL. */
void
sql_parse_error_free(sql_parse_error *err)
{
	if (err == NULL)
		return;
	free(err->message);
	free(err->line_text);
	err->message = NULL;
	err->line_text = NULL;
	err->offset = -1;
	err->line = 0;
	err->column = 0;
}
