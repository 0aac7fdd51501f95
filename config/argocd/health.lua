-- Argo CD health check for policy.tokenguard.io/TokenPolicy.
-- Healthy:     Ready is True for the current generation.
-- Degraded:    Ready is False for the current generation (the message says why).
-- Progressing: no Ready condition yet, or the controller has not yet
--              observed the current generation.
-- Argo CD runs it without the string library, so it uses only base Lua.
local hs = {status = "Progressing", message = "Waiting for TokenGuard to compile this generation"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local ready = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  end
end
if ready == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = ready.observedGeneration
if observed == nil then
  observed = obj.status.observedGeneration
end
if generation ~= nil and (observed == nil or observed < generation) then
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
end
if ready.message ~= nil then
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
