// Named pretraining recipes (`pretrain --recipe NAME`): settings measured to
// learn within a budget, so a user need not copy a long command. A flag given
// on the command line keeps its value over the recipe's.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "models/training/pretrain.h"

namespace dnabert::models {

struct RecipeSetting {
  std::string flag;   // the pretrain flag it stands for, e.g. "--lr"
  std::string value;  // as it would be written on the command line
};

struct PretrainRecipe {
  std::string name, summary;
  std::vector<RecipeSetting> settings;
};

const std::vector<PretrainRecipe>& pretrain_recipes();
// Throws UsageError naming the known recipes.
const PretrainRecipe& find_pretrain_recipe(const std::string& name);

// What the recipe sets, for options that are not in `given` (the flags given
// on the command line). `config` and `mask_rate` are the CLI's values for
// --config and --mask-rate, which the caller turns into o.config and
// o.mlm_probability.
void apply_pretrain_recipe(const PretrainRecipe& r, const std::set<std::string>& given, PretrainOptions& o,
                           std::string& config, double& mask_rate);

// A pretrain command's settings made whole: `recipe` (if named) applied to
// the options not in `given`; o.config from --init's config.json, else from
// `config` (a preset or a config.json); a `mask_rate` >= 0 turned into
// o.mlm_probability. Returns the recipe's "recipe NAME: summary" line, or "".
std::string settle_pretrain_options(PretrainOptions& o, std::string& config, double& mask_rate,
                                    const std::string& recipe, const std::set<std::string>& given);

}  // namespace dnabert::models
