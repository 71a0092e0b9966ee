--[[ num: a number as text that reads back as the same double.
  num(x): "%.17g" text (Lua's own conversion, %.14g, would round); "inf" or "-inf" for infinities.
]]

local num
do
  local fmt = string.format

  function num(x) return fmt('%.17g', x) end
end
