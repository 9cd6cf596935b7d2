#include "server/compression_validator.h"

#include "compression/spec.h"

namespace fedpress::server {

CompressionValidator MakeCompressionValidator() {
  return [](const nlohmann::json& j, std::vector<FieldError>* errors) -> std::optional<nlohmann::json> {
    auto spec = compression::ParseCompressionSpec(j, "compression");
    if (!spec.ok()) {
      const std::string m = spec.status().message();
      auto colon = m.find(": ");
      if (m.rfind("compression", 0) == 0 && colon != std::string::npos)
        errors->push_back({m.substr(0, colon), m.substr(colon + 2)});
      else
        errors->push_back({"compression", m});
      return std::nullopt;
    }
    nlohmann::json out = compression::ToJson(*spec);
    // Keep the preset's name for display when the spec is exactly a preset
    // (explicit fields win over the preset on re-parse, so this is lossless).
    if (!spec->preset.empty() && spec->preset.find('+') == std::string::npos) out["preset"] = spec->preset;
    return out;
  };
}

}  // namespace fedpress::server
