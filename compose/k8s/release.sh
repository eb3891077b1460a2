#!/usr/bin/env bash
#
# release.sh
#     One release on Kubernetes, in the order compose/deploy.sh keeps on one
#     host: suspend the index CronJobs (and stop a build in flight), run the
#     release's migrate Job and wait for its outcome, and only after it
#     succeeded roll out the app and resume the CronJobs.  A failed
#     migration rolls out nothing: the old pods keep running.
#
# Usage: compose/k8s/release.sh [--retry] RELEASE IMAGE [APP_IMAGE]
#
#   RELEASE    names the Job: migrate-RELEASE (lower-case letters, digits
#              and "-", at most 55 characters; a git short hash does)
#   IMAGE      the toolkit image of this release (with its migrations/)
#   APP_IMAGE  your application's image (default: IMAGE, the example)
#   --retry    delete a failed migrate-RELEASE Job first and run it again
#              (after fixing what was outside the image, e.g. a blocker);
#              a fixed migration file is a new image and a new RELEASE
#
# Environment:
#   KUBECTL          the kubectl command, split on blanks (default
#                    "kubectl"; e.g. "kubectl --namespace prod")
#   MIGRATE_TIMEOUT  seconds to wait for the Job (default 1900; the Job
#                    itself gives up after activeDeadlineSeconds 1800)
#
# Placeholders ${RELEASE}, ${IMAGE} and ${APP_IMAGE} in the manifests are
# replaced with sed; nothing else is substituted.  The Secret
# "pg-schema-toolkit" with key DATABASE_URL must exist (docs/deployment.md).
#
# Exit status: 0 released; 1 the migrate Job failed or timed out; 2 invalid
# usage; otherwise kubectl's exit status of the step that failed.
#
# compose/k8s/release.sh
#
set -euo pipefail

usage() {
	cat >&2 <<-'EOF'
		usage: compose/k8s/release.sh [--retry] RELEASE IMAGE [APP_IMAGE]
		  applies migrate-RELEASE, waits for it, then rolls out the app and the index CronJobs
	EOF
	exit 2
}

log() {
	echo "release: $*" >&2
}

die() {
	local code=$1
	shift
	echo "release: error: $*" >&2
	exit "$code"
}

retry=0
args=()
for arg in "$@"; do
	case "$arg" in
		--retry) retry=1 ;;
		-h | --help) usage ;;
		-*)
			echo "release: unknown option \"$arg\"" >&2
			usage
			;;
		*) args+=("$arg") ;;
	esac
done
if [ "${#args[@]}" -lt 2 ] || [ "${#args[@]}" -gt 3 ]; then
	usage
fi
release=${args[0]}
image=${args[1]}
app_image=${args[2]:-$image}

if ! [[ $release =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || [ "${#release}" -gt 55 ]; then
	die 2 "invalid RELEASE \"$release\": lower-case letters, digits and \"-\", at most 55 characters"
fi
case "$image$app_image" in
	*'|'* | *[[:space:]]*) die 2 "invalid image name" ;;
esac

manifests=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a kubectl_cmd <<<"${KUBECTL:-kubectl}"
timeout=${MIGRATE_TIMEOUT:-1900}
job=migrate-$release
cronjobs=(indexer-build indexer-check)

kubectl() {
	"${kubectl_cmd[@]}" "$@"
}

# render FILE: the manifest with the placeholders replaced.
render() {
	local out
	out=$(sed -e "s|\${RELEASE}|$release|g" -e "s|\${IMAGE}|$image|g" \
		-e "s|\${APP_IMAGE}|$app_image|g" "$manifests/$1")
	if grep -qF "\${" <<<"$out"; then
		die 2 "$1: a placeholder is left after rendering"
	fi
	printf '%s\n' "$out"
}

# The true conditions of the Job, e.g. "Complete" or "FailureTarget Failed".
job_conditions() {
	kubectl get job "$job" --ignore-not-found \
		-o 'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}'
}

# ---- pause the index schedule ---------------------------------------------------
for cj in "${cronjobs[@]}"; do
	if [ -z "$(kubectl get cronjob "$cj" --ignore-not-found -o name)" ]; then
		continue # first release: nothing scheduled yet
	fi
	log "suspending cronjob/$cj"
	kubectl patch cronjob "$cj" --type merge -p '{"spec":{"suspend":true}}' >/dev/null
	# A build in flight holds SHARE UPDATE EXCLUSIVE on its table, which an
	# ALTER TABLE would wait for: stop it (the indexer cancels and cleans up).
	for active in $(kubectl get cronjob "$cj" -o 'jsonpath={.status.active[*].name}'); do
		log "stopping job/$active of cronjob/$cj"
		kubectl delete job "$active" --ignore-not-found --wait=true >/dev/null
	done
done

# ---- migrate --------------------------------------------------------------------------
existing=$(job_conditions)
case " $existing " in
	*" Complete "*)
		log "job/$job already completed: this release is migrated"
		;;
	*" Failed "*)
		if [ "$retry" -eq 0 ]; then
			die 1 "job/$job failed before: read its log (${kubectl_cmd[*]} logs job/$job --all-containers), fix, then run again with --retry, or release a new image under a new RELEASE"
		fi
		log "deleting the failed job/$job (--retry)"
		kubectl delete job "$job" --wait=true >/dev/null
		existing=
		;;
esac
if [ -z "$existing" ]; then
	log "applying job/$job"
	render migrate-job.yaml | kubectl apply -f - >/dev/null ||
		die $? "applying job/$job failed: nothing was migrated or rolled out"
fi

log "waiting for job/$job (up to ${timeout}s)"
waited=0
while :; do
	conditions=$(job_conditions)
	case " $conditions " in
		*" Complete "*) break ;;
		*" Failed "*)
			kubectl logs "job/$job" --all-containers --tail=20 >&2 || true
			die 1 "job/$job failed: the app was not rolled out and the index CronJobs stay suspended; its last log line says what failed and where: fix it and release again"
			;;
	esac
	if [ "$waited" -ge "$timeout" ]; then
		die 1 "job/$job did not finish within ${timeout}s: the app was not rolled out and the index CronJobs stay suspended"
	fi
	sleep 5
	waited=$((waited + 5))
done
log "job/$job completed: migrations applied, critical indexes built"

# ---- roll out, resume ----------------------------------------------------------------
log "rolling out deployment/app"
render app-deployment.yaml | kubectl apply -f - >/dev/null ||
	die $? "applying deployment/app failed: the schema is migrated; the index CronJobs stay suspended"
log "applying the index cronjobs (suspend: false)"
render indexer-cronjobs.yaml | kubectl apply -f - >/dev/null ||
	die $? "applying the index cronjobs failed: they stay suspended"
kubectl rollout status deployment/app --timeout=10m >&2 ||
	die $? "deployment/app did not become ready: see ${kubectl_cmd[*]} describe deployment/app (the schema gate is an init container)"
log "released $release"
