-- POSTs one JSON body (e.g. a FHIR transaction Bundle) on every request.
-- wrk ... -s post_json.lua URL -- FILE
function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/fhir+json"
end
