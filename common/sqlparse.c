/*-------------------------------------------------------------------------
 *
 * sqlparse.c
 *	  Reading SQL with PostgreSQL's own parser (libpg_query).
 *
 * The script is parsed once, as a whole, with pg_query_parse_protobuf(); the
 * unpacked tree is kept for callers that look deeper.  Each RawStmt gives a
 * byte range of the source that starts right after the previous semicolon
 * (so it may begin with blank space and comments) and stops before its own
 * semicolon (or runs to the end of the input when stmt_len is 0).  To trim
 * that range to the statement's first and last tokens exactly, the source is
 * also run through pg_query_scan(), PostgreSQL's own lexer: it knows where
 * comments, strings, dollar quotes and E'' escapes begin and end, which no
 * hand-written skipper matches in every case.
 *
 * Only token start offsets are trusted: pg_query_scan() reports an empty
 * extent for some tokens (U&'...' strings come back with end == start), so
 * a statement ends where its trailing comments begin, or where its range
 * ends, less trailing blank space.
 *
 * Depth (see sqlparse.h).  The lexer runs first, on the caller's stack (it
 * does not recurse); its tokens give each statement's length, which sizes
 * the stack of the thread that then runs the parser.  The depth of the
 * parser's protobuf output is measured on the wire bytes without recursion,
 * and only a tree within SQL_PARSE_MAX_DEPTH is unpacked (protobuf-c's
 * unpack recurses, about 1kB per level).
 *
 * common/sqlparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlparse.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"

/* a UTF-8 byte-order mark, which editors may put in front of a file */
#define UTF8_BOM     "\xEF\xBB\xBF"
#define UTF8_BOM_LEN 3

/*
 * Stack of the parser thread: a base, plus an amount per token of the
 * longest statement.  Measured with libpg_query 15-4.0 by painting the
 * stack: its parser, node output and packing take up to about 180 bytes
 * per token of a left-associative chain ("||", UNION, "::", ISNULL) and
 * about 530 per token of nested subqueries, whose nesting bison caps at
 * a few thousand; protobuf-c's unpack takes about 960 bytes per tree
 * level, 10MB for SQL_PARSE_MAX_DEPTH.  The base covers the unpack and the
 * capped nestings; the per-token part is several times the chains' need.
 * Only the pages touched are ever backed by memory.
 */
#define PARSER_STACK_BASE      ((size_t) 32 << 20)
#define PARSER_STACK_PER_TOKEN ((size_t) 768)

/* a script this large has its freed memory trimmed around the parse */
#define TRIM_AFTER_BYTES ((size_t) 1 << 20)

/* wire types of the protobuf encoding */
#define WIRE_VARINT  0
#define WIRE_FIXED64 1
#define WIRE_LENGTH  2
#define WIRE_FIXED32 5

/* field numbers in pg_query.proto */
#define FIELD_PARSE_RESULT_STMTS 2
#define FIELD_RAW_STMT_LOCATION  2

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

/* A position in the source, advanced forwards while scanning for lines. */
typedef struct text_pos
{
	int offset;     /* byte offset reached */
	int line;       /* 1-based line of offset */
	int line_start; /* byte offset where that line begins */
} text_pos;

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

/* The scanner's white space: [ \t\n\r\f\v] (scan.l, "space"). */
static bool
is_sql_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * A token of the lexer, kept compact: a script's tokens stay in memory while
 * the parser runs, and the unpacked protobuf takes several times this.
 */
typedef struct sql_token
{
	int start; /* byte offset in the text */
	int token; /* PgQuery__Token */
} sql_token;

typedef struct token_list
{
	sql_token *tokens;
	size_t     n_tokens;
} token_list;

static bool
is_comment_token(const sql_token *tok)
{
	return tok->token == PG_QUERY__TOKEN__SQL_COMMENT || tok->token == PG_QUERY__TOKEN__C_COMMENT;
}

static int
bom_length(const char *source)
{
	return strncmp(source, UTF8_BOM, UTF8_BOM_LEN) == 0 ? UTF8_BOM_LEN : 0;
}

/*
 * Move pos forwards to offset (never past the terminating NUL).  A line ends
 * at LF, at CRLF (counted once, at the LF) or at a lone CR, the same line
 * breaks the checksum normalises.
 */
static void
advance_pos(const char *text, text_pos *pos, int offset)
{
	while (pos->offset < offset && text[pos->offset] != '\0')
	{
		char c = text[pos->offset++];

		if (c == '\n' || (c == '\r' && text[pos->offset] != '\n'))
		{
			pos->line++;
			pos->line_start = pos->offset;
		}
	}
}

/*
 * Byte offset of the 0-based character position nchars, counting characters
 * the way the server's pg_mbstrlen_with_len() does for UTF-8 (the length of a
 * character comes from its lead byte alone), so that it inverts the parser's
 * cursorpos exactly.  Stops at the terminating NUL.
 */
static int
char_to_byte_offset(const char *text, int nchars)
{
	int off = 0;

	for (int i = 0; i < nchars && text[off] != '\0'; i++)
	{
		unsigned char c = (unsigned char) text[off];
		int           len;

		if ((c & 0x80) == 0)
			len = 1;
		else if ((c & 0xe0) == 0xc0)
			len = 2;
		else if ((c & 0xf0) == 0xe0)
			len = 3;
		else if ((c & 0xf8) == 0xf0)
			len = 4;
		else
			len = 1;
		for (int k = 0; k < len && text[off] != '\0'; k++)
			off++;
	}
	return off;
}

/*
 * Byte offset in text of the parser's cursorpos (1-based characters), or -1
 * when the parser gave no position (0).
 */
static int
cursor_to_offset(const char *text, int cursorpos)
{
	return cursorpos > 0 ? char_to_byte_offset(text, cursorpos - 1) : -1;
}

/*
 * Fill err: message, and the position of byte offset in text (-1 when
 * unknown).  text is the source after any BOM, bom_len the BOM's length.
 */
static void
set_error(const char *text, int bom_len, const char *message, int offset, sql_parse_error *err)
{
	text_pos pos = {0, 1, 0};
	int      line_end;
	int      column;

	err->message = xstrdup(message != NULL ? message : "could not parse the script");
	err->offset = -1;
	err->line = 0;
	err->column = 0;
	err->line_text = NULL;
	if (offset < 0)
		return;

	/*
	 * "at end of input" points past the last byte; when the file ends with
	 * newlines that is a line after the last one an editor shows.  Put it
	 * right after the last non-blank character instead, where the statement
	 * was left unfinished.
	 */
	if (text[offset] == '\0')
		while (offset > 0 && is_sql_space(text[offset - 1]))
			offset--;

	advance_pos(text, &pos, offset);

	/* columns of errors count characters, as an editor shows them */
	column = 1;
	for (int i = pos.line_start; i < offset; i++)
		if (((unsigned char) text[i] & 0xc0) != 0x80)
			column++;

	line_end = pos.line_start;
	while (text[line_end] != '\0' && text[line_end] != '\n' && text[line_end] != '\r')
		line_end++;

	err->offset = offset + bom_len;
	err->line = pos.line;
	err->column = column;
	err->line_text = xstrndup(text + pos.line_start, (size_t) (line_end - pos.line_start));
}

/*
 * Run PostgreSQL's lexer over text into *out (free out->tokens).  False
 * with err filled if it fails.
 */
static bool
scan_tokens(const char *text, int bom_len, token_list *out, sql_parse_error *err)
{
	PgQueryScanResult    scan_result = pg_query_scan(text);
	PgQuery__ScanResult *scan;

	if (scan_result.error != NULL)
	{
		set_error(text, bom_len, scan_result.error->message,
				  cursor_to_offset(text, scan_result.error->cursorpos), err);
		pg_query_free_scan_result(scan_result);
		return false;
	}
	scan = pg_query__scan_result__unpack(NULL, scan_result.pbuf.len, (const uint8_t *) scan_result.pbuf.data);
	pg_query_free_scan_result(scan_result);
	if (scan == NULL)
	{
		set_error(text, bom_len, "could not decode the lexer's output", -1, err);
		return false;
	}
	out->n_tokens = scan->n_tokens;
	out->tokens = scan->n_tokens > 0 ? xcalloc(scan->n_tokens, sizeof(sql_token)) : NULL;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		out->tokens[i].start = scan->tokens[i]->start;
		out->tokens[i].token = (int) scan->tokens[i]->token;
	}
	pg_query__scan_result__free_unpacked(scan, NULL);
	return true;
}

/* Byte offset of the first token at or after offset that is not a comment. */
static int
first_token_from(const token_list *scan, int offset)
{
	for (size_t i = 0; i < scan->n_tokens; i++)
		if (scan->tokens[i].start >= offset && !is_comment_token(&scan->tokens[i]))
			return scan->tokens[i].start;
	return offset;
}

/*
 * The most tokens of one statement, statements ending at a semicolon
 * outside parentheses (CREATE RULE's action list keeps its own), and in
 * *at the offset of that statement's first token.
 */
static size_t
longest_statement(const token_list *scan, int *at)
{
	size_t longest = 0;
	size_t count = 0;
	int    start = 0;
	int    parens = 0;

	*at = 0;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		const sql_token *t = &scan->tokens[i];

		if (is_comment_token(t))
			continue;
		if (count == 0)
			start = t->start;
		count++;
		if (count > longest)
		{
			longest = count;
			*at = start;
		}
		if (t->token == PG_QUERY__TOKEN__ASCII_40)
			parens++;
		else if (t->token == PG_QUERY__TOKEN__ASCII_41 && parens > 0)
			parens--;
		else if (t->token == PG_QUERY__TOKEN__ASCII_59 && parens == 0)
			count = 0;
	}
	return longest;
}

static bool
is_simple_operand(const sql_token *t)
{
	switch (t->token)
	{
		case PG_QUERY__TOKEN__IDENT:
		case PG_QUERY__TOKEN__UIDENT:
		case PG_QUERY__TOKEN__FCONST:
		case PG_QUERY__TOKEN__SCONST:
		case PG_QUERY__TOKEN__USCONST:
		case PG_QUERY__TOKEN__BCONST:
		case PG_QUERY__TOKEN__XCONST:
		case PG_QUERY__TOKEN__ICONST:
		case PG_QUERY__TOKEN__PARAM:
			return true;
		default:
			return false;
	}
}

/*
 * The most generic operators ("||", "->", "@>": the lexer's Op, all of one
 * precedence, left-associative) in a run of tokens that alternate between
 * a constant or name and such an operator, and in *at where the run
 * starts.  Such a run parses to a left-deep chain at least two levels deep
 * per operator, so a long one is refused before the parser spends seconds
 * on it (its time grows faster than linearly).
 */
static size_t
longest_operator_chain(const token_list *scan, int *at)
{
	size_t longest = 0;
	size_t ops = 0;
	int    start = 0;
	bool   want_operand = true;

	*at = 0;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		const sql_token *t = &scan->tokens[i];

		if (is_comment_token(t))
			continue;
		if (want_operand && is_simple_operand(t))
		{
			if (ops == 0)
				start = t->start;
			want_operand = false;
		}
		else if (!want_operand && t->token == PG_QUERY__TOKEN__Op)
		{
			if (++ops > longest)
			{
				longest = ops;
				*at = start;
			}
			want_operand = true;
		}
		else
		{
			/* the run is broken; this token may start the next one */
			ops = 0;
			want_operand = !is_simple_operand(t);
			start = t->start;
		}
	}
	return longest;
}

/* Read a varint at *pos, below end; false if it is cut off or too long. */
static bool
read_varint(const uint8_t *buf, size_t end, size_t *pos, uint64_t *value)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *pos < end; shift += 7)
	{
		uint8_t b = buf[(*pos)++];

		v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*value = v;
			return true;
		}
	}
	return false;
}

/*
 * Skip the value of a field of wire type wire_type at *pos; for a
 * length-delimited one, *len is its length and *pos is left at its start.
 * False on a malformed or unsupported encoding.
 */
static bool
read_field_value(const uint8_t *buf, size_t end, size_t *pos, unsigned wire_type, uint64_t *len)
{
	uint64_t v;

	*len = 0;
	switch (wire_type)
	{
		case WIRE_VARINT:
			return read_varint(buf, end, pos, &v);
		case WIRE_FIXED64:
		case WIRE_FIXED32:
			v = wire_type == WIRE_FIXED64 ? 8 : 4;
			if (end - *pos < v)
				return false;
			*pos += v;
			return true;
		case WIRE_LENGTH:
			if (!read_varint(buf, end, pos, len) || *len > end - *pos)
				return false;
			return true;
		default:
			return false;
	}
}

/* One open message while measuring depth: where it ends, what it is. */
typedef struct wire_frame
{
	size_t                            end;
	const ProtobufCMessageDescriptor *desc;
} wire_frame;

/*
 * The index of the first statement of the packed ParseResult buf whose tree
 * is deeper than max_depth messages (the statement's node counting 1), -1
 * when none is, -2 when buf is malformed.  Iterates with its own stack of
 * at most max_depth + 2 frames, never recursing.
 */
static int
first_too_deep(const uint8_t *buf, size_t len, int max_depth)
{
	wire_frame *stack = xmalloc(sizeof(wire_frame) * (size_t) (max_depth + 2));
	int         top = 0; /* stack[0] is the ParseResult, [1] a RawStmt */
	int         stmt = -1;
	int         result = -1;
	size_t      pos = 0;

	stack[0].end = len;
	stack[0].desc = &pg_query__parse_result__descriptor;
	while (result == -1)
	{
		uint64_t                        key;
		uint64_t                        n;
		const ProtobufCFieldDescriptor *f;

		if (pos == stack[top].end)
		{
			if (top == 0)
				break;
			top--;
			continue;
		}
		if (!read_varint(buf, stack[top].end, &pos, &key) ||
			!read_field_value(buf, stack[top].end, &pos, (unsigned) (key & 7), &n))
		{
			result = -2;
			break;
		}
		if ((key & 7) != WIRE_LENGTH)
			continue;
		f = protobuf_c_message_descriptor_get_field(stack[top].desc, (unsigned) (key >> 3));
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
		{
			pos += n;
			continue;
		}
		if (top == 0)
			stmt++;
		/* the new message sits at top + 1, depth top below the statement */
		if (top >= max_depth + 1)
		{
			result = stmt;
			break;
		}
		top++;
		stack[top].end = pos + n;
		stack[top].desc = f->descriptor;
	}
	free(stack);
	return result;
}

/*
 * stmt_location of statement index of the packed ParseResult buf, reading
 * only the top two levels; 0 (the value protobuf leaves out) if absent.
 */
static int
raw_stmt_location(const uint8_t *buf, size_t len, int index)
{
	size_t pos = 0;

	while (pos < len)
	{
		uint64_t key;
		uint64_t n;

		if (!read_varint(buf, len, &pos, &key) || !read_field_value(buf, len, &pos, (unsigned) (key & 7), &n))
			return 0;
		if ((key & 7) == WIRE_LENGTH && (key >> 3) == FIELD_PARSE_RESULT_STMTS && index-- == 0)
		{
			size_t end = pos + n;

			while (pos < end)
			{
				uint64_t v;

				if (!read_varint(buf, end, &pos, &key))
					return 0;
				if ((key >> 3) == FIELD_RAW_STMT_LOCATION && (key & 7) == WIRE_VARINT)
					return read_varint(buf, end, &pos, &v) && v <= INT_MAX ? (int) v : 0;
				if (!read_field_value(buf, end, &pos, (unsigned) (key & 7), &n))
					return 0;
				pos += n;
			}
			return 0;
		}
		pos += n;
	}
	return 0;
}

/* The work and the results of one parse on the parser thread. */
typedef struct parse_job
{
	const char           *text;
	PgQuery__ParseResult *tree;        /* out: the tree, if all went well */
	char                 *error;       /* out: the parser's message */
	int                   cursorpos;   /* out: and its position */
	int                   too_deep;    /* out: first statement too deep, or -1 */
	int                   deep_offset; /* out: where that statement starts */
} parse_job;

static void
parse_on_thread(void *arg)
{
	parse_job                 *job = arg;
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(job->text);

	if (r.error != NULL)
	{
		job->error = xstrdup(r.error->message);
		job->cursorpos = r.error->cursorpos;
	}
	else
	{
		const uint8_t *buf = (const uint8_t *) r.parse_tree.data;
		size_t         len = r.parse_tree.len;

		job->too_deep = first_too_deep(buf, len, SQL_PARSE_MAX_DEPTH);
		if (job->too_deep >= 0)
			job->deep_offset = raw_stmt_location(buf, len, job->too_deep);
		else if (job->too_deep == -1)
			job->tree = pg_query__parse_result__unpack(NULL, len, buf);
	}
	/* libpg_query frees this thread's memory context when the thread ends */
	pg_query_free_protobuf_parse_result(r);
}

typedef struct thread_call
{
	void (*fn)(void *arg);
	void *arg;
} thread_call;

static void *
thread_main(void *arg)
{
	thread_call *call = arg;

	call->fn(call->arg);
	return NULL;
}

/*
 * Run fn(arg) on a new thread with a stack of stack_bytes, every signal
 * blocked (they stay with the main thread's handlers), and wait for it.
 * False with errno set if the thread could not be started.
 */
static bool
call_with_stack(size_t stack_bytes, void (*fn)(void *arg), void *arg)
{
	thread_call    call = {fn, arg};
	pthread_attr_t attr;
	pthread_t      thread;
	sigset_t       all;
	sigset_t       old;
	int            rc;

	rc = pthread_attr_init(&attr);
	if (rc == 0)
	{
		rc = pthread_attr_setstacksize(&attr, stack_bytes);
		if (rc == 0)
		{
			/* the new thread inherits the mask */
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			rc = pthread_create(&thread, &attr, thread_main, &call);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
	{
		errno = rc;
		return false;
	}
	pthread_join(thread, NULL);
	return true;
}

bool
sql_call_on_parser_stack(void (*fn)(void *arg), void *arg)
{
	return call_with_stack(PARSER_STACK_BASE, fn, arg);
}

/*
 * Find the statements of tree in text, using the lexer's tokens scan.
 * Fills out->stmts and out->n_stmts.  Returns false (with err filled) only
 * if a statement has no token; that should not happen, but a wrong
 * statement text must never be returned.
 */
static bool
locate_statements(const char *text, int text_len, int bom_len, const PgQuery__ParseResult *tree,
				  const token_list *scan, sql_script *out, sql_parse_error *err)
{
	text_pos pos = {0, 1, 0};
	size_t   tok = 0;
	bool     ok = true;

	if (tree->n_stmts > 0)
		out->stmts = xcalloc(tree->n_stmts, sizeof(sql_statement));
	for (size_t i = 0; i < tree->n_stmts; i++)
	{
		const PgQuery__RawStmt *raw = tree->stmts[i];
		sql_statement          *st = &out->stmts[i];
		int                     range_start = raw->stmt_location;
		int                     range_end = raw->stmt_len > 0 ? raw->stmt_location + raw->stmt_len : text_len;
		int                     first = -1;
		int                     trailing_comment = -1;
		int                     end;

		/* skip the semicolons between statements */
		while (tok < scan->n_tokens && scan->tokens[tok].start < range_start)
			tok++;
		for (; tok < scan->n_tokens && scan->tokens[tok].start < range_end; tok++)
		{
			const sql_token *t = &scan->tokens[tok];

			if (is_comment_token(t))
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
			set_error(text, bom_len, "could not find the tokens of a statement", range_start, err);
			ok = false;
			break;
		}

		/* only blank space lies between the last token and end */
		end = trailing_comment >= 0 ? trailing_comment : range_end;
		while (end > first && is_sql_space(text[end - 1]))
			end--;

		advance_pos(text, &pos, first);
		st->text = xstrndup(text + first, (size_t) (end - first));
		st->offset = first + bom_len;
		st->line = pos.line;
		st->column = first - pos.line_start + 1;
		st->kind = node_kind_name(raw->stmt);
		st->tree_index = (int) i;
		out->n_stmts = (int) i + 1;
	}
	return ok;
}

#define STR(x)  #x
#define XSTR(x) STR(x)

static const char too_deep_message[] = "statement is nested too deeply: its parse tree is deeper than " XSTR(
	SQL_PARSE_MAX_DEPTH) " levels; split the expression or the statement";

/*
 * An error for a script that breaks a limit of sqlparse.h.  Its line is
 * not quoted: a statement that long or deep may be one huge line.
 */
static void
set_limit_error(const char *text, int bom_len, const char *message, int offset, sql_parse_error *err)
{
	set_error(text, bom_len, message, offset, err);
	free(err->line_text);
	err->line_text = NULL;
	err->limit = true;
}

/*
 * Run the parser over text on a thread sized for scan's longest statement.
 * Returns the tree, or NULL with err filled (a syntax error, a statement
 * too long or too deep, a thread that could not start).
 */
static PgQuery__ParseResult *
parse_tree(const char *text, int bom_len, const token_list *scan, sql_parse_error *err)
{
	parse_job job = {text, NULL, NULL, 0, -1, 0};
	int       longest_at;
	size_t    longest = longest_statement(scan, &longest_at);
	int       chain_at;
	size_t    chain = longest_operator_chain(scan, &chain_at);

	if (longest > SQL_PARSE_MAX_TOKENS)
	{
		char *msg = xasprintf("statement is too long to parse safely: %zu tokens (the limit is %d); split it",
							  longest, SQL_PARSE_MAX_TOKENS);

		set_limit_error(text, bom_len, msg, longest_at, err);
		free(msg);
		return NULL;
	}
	if (chain * 2 > SQL_PARSE_MAX_DEPTH)
	{
		set_limit_error(text, bom_len, too_deep_message, chain_at, err);
		return NULL;
	}
	if (!call_with_stack(PARSER_STACK_BASE + longest * PARSER_STACK_PER_TOKEN, parse_on_thread, &job))
	{
		char *msg = xasprintf("could not start the parser's thread: %s", strerror(errno));

		set_error(text, bom_len, msg, -1, err);
		free(msg);
		return NULL;
	}
	if (job.error != NULL)
	{
		set_error(text, bom_len, job.error, cursor_to_offset(text, job.cursorpos), err);
		free(job.error);
		return NULL;
	}
	if (job.too_deep >= 0)
	{
		set_limit_error(text, bom_len, too_deep_message, first_token_from(scan, job.deep_offset), err);
		return NULL;
	}
	if (job.tree == NULL)
		set_error(text, bom_len, "could not decode the parser's output", -1, err);
	return job.tree;
}

/*
 * Parse source into statements; see sqlparse.h.  A leading UTF-8 BOM is
 * skipped (offsets still count it; line 1 starts after it).  On failure
 * *out is left empty ({NULL, 0, NULL}); on success *err is left empty.
 */
bool
sql_parse_script(const char *source, sql_script *out, sql_parse_error *err)
{
	int         bom_len = bom_length(source);
	const char *text = source + bom_len;
	size_t      text_len = strlen(text);
	token_list  scan = {NULL, 0};
	bool        ok;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	err->offset = -1;

	/* offsets are ints, in the parser as here */
	if (text_len > (size_t) INT_MAX - UTF8_BOM_LEN)
	{
		set_limit_error(text, bom_len, "script is too large to parse", -1, err);
		return false;
	}

	/* the lexer first: a script it refuses never reaches the parser */
	if (!scan_tokens(text, bom_len, &scan, err))
		return false;

	/*
	 * The parser's thread allocates in a malloc arena of its own, which
	 * cannot reuse what the lexer freed in this one, nor this one what the
	 * parser freed there: for a large script, hand both back to the system
	 * (before and after), so that the peak stays what one arena would have.
	 */
	if (text_len >= TRIM_AFTER_BYTES)
		malloc_trim(0);
	out->tree = parse_tree(text, bom_len, &scan, err);
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
	if (script->tree != NULL)
		pg_query__parse_result__free_unpacked(script->tree, NULL);
	script->stmts = NULL;
	script->n_stmts = 0;
	script->tree = NULL;
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

/*
 * 1-based line and column (in bytes) of the byte offset in source, counted
 * like the statements' positions: a leading BOM is not part of line 1, and
 * LF, CRLF and a lone CR each end a line.  An offset past the end counts as
 * the end; a negative offset gives line 0 and column 0 (unknown).
 */
void
sql_offset_to_line_col(const char *source, int offset, int *line, int *column)
{
	int      bom_len = bom_length(source);
	text_pos pos = {0, 1, 0};

	if (offset < 0)
	{
		*line = 0;
		*column = 0;
		return;
	}
	offset = offset > bom_len ? offset - bom_len : 0;
	advance_pos(source + bom_len, &pos, offset);
	*line = pos.line;
	*column = pos.offset - pos.line_start + 1;
}
