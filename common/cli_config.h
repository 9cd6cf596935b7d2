// Config files for the daemons' command lines (CLI11, header-only).
//
// AddConfigFileOptions gives a CLI::App two options: `--config FILE`, a TOML
// file whose keys are the long flag names without "--" (`db = "/x.db"`,
// `public-read = true`), and `--print-config`, which prints the effective
// options in that form. Precedence: command line, then the file, then the
// built-in defaults. Unknown keys in the file are an error (a typo must not be
// silently ignored). Only the app's own options are configurable this way,
// not its subcommands'.
//
// Thread-safety: call from main() only, before and after parsing.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace fedpress {

// Adds --config and --print-config to `app`; `*print_config` is set when
// --print-config was given (after parsing, print EffectiveConfigToml and exit).
inline void AddConfigFileOptions(CLI::App& app, const std::string& example_path, bool* print_config) {
  app.set_config("--config", "",
                 "read options from this TOML file (e.g. " + example_path + "); command-line flags win");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_flag("--print-config", *print_config,
               "print the effective options (command line + --config file + defaults) as a config file, and exit")
      ->configurable(false);
}

// Every configurable option of `app` as TOML, each after its description:
// options given on the command line or in the config file as `key = value`,
// the others commented out with their default (`# key = default`).
inline std::string EffectiveConfigToml(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_configurable() || opt == app.get_help_ptr() || opt == app.get_help_all_ptr()) continue;
    if (opt->get_single_name().empty() || opt->get_positional()) continue;
    const bool set = opt->count() > 0;
    std::string value;
    if (set) {
      value = CLI::detail::ini_join(opt->reduced_results());
    } else if (!opt->get_default_str().empty()) {
      value = CLI::detail::convert_arg_for_ini(opt->get_default_str());
    } else if (opt->get_expected_min() == 0) {
      value = "false";  // a flag
    } else {
      value = "\"\"";  // no default: unset
    }
    out += "\n# " + opt->get_description() + "\n";
    out += (set ? "" : "# ") + opt->get_single_name() + " = " + value + "\n";
  }
  return out;
}

}  // namespace fedpress
