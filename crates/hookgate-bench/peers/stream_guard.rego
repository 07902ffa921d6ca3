# stream-guard in Rego: the rule of plugins/rust/stream-guard with the settings of the shipped
# tenant (policies/defaultApp/tenant.toml: deny = ["forbidden_*"], normalize = "lowercase",
# status 403), for `hookgate-bench serve-rego` (regorus embedded in axum).
#
# Input: the hook (the request's JSON body, already checked to be an object with a string
# appKey). `decision` is {"deny": reason, "status": 403} to refuse, {"name": lowered} to
# override the name, {} to allow.
package streamguard

deny_prefix := "forbidden_"

name := input.name if is_string(input.name)

lowered := lower(name)

forbidden if startswith(name, deny_prefix)

forbidden if startswith(lowered, deny_prefix)

default decision := {}

decision := {"deny": sprintf("stream name '%s' is forbidden", [name]), "status": 403} if forbidden

decision := {"name": lowered} if {
	not forbidden
	lowered != name
}
