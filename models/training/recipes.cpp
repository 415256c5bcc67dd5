#include "models/training/recipes.h"

#include "base/error.h"
#include "models/training/masking.h"

namespace dnabert::models {

const std::vector<PretrainRecipe>& pretrain_recipes() {
  // tiny-2h: bench/LEARNING.md has the run that measured it (wall time,
  // tokens, held-out curve); the plateau study there says why each setting.
  static const std::vector<PretrainRecipe> recipes = {
      {"tiny-2h",
       "tiny preset, 6-mers, 7,000 steps of 32 x 128 tokens, lr 1e-3, composed k-mer and sinusoidal position "
       "embeddings, no dropout while pretraining",
       {{"--k", "6"},
        {"--config", "tiny"},
        {"--max-len", "128"},
        {"--batch", "32"},
        {"--steps", "7000"},
        {"--lr", "1e-3"},
        {"--warmup", "100"},
        {"--mask-rate", "0.15"},
        {"--embedding-init", "composed"},
        {"--position-init", "sinusoidal"},
        {"--dropout", "0"},
        {"--eval-every", "250"},
        {"--eval-batches", "8"},
        {"--save-every", "500"},
        {"--keep-last", "2"}}},
  };
  return recipes;
}

const PretrainRecipe& find_pretrain_recipe(const std::string& name) {
  std::string known;
  for (const auto& r : pretrain_recipes()) {
    if (r.name == name) return r;
    known += (known.empty() ? "" : ", ") + r.name;
  }
  throw UsageError("--recipe: '" + name + "' is not a recipe (known: " + known + ")");
}

void apply_pretrain_recipe(const PretrainRecipe& r, const std::set<std::string>& given, PretrainOptions& o,
                           std::string& config, double& mask_rate) {
  for (const RecipeSetting& s : r.settings) {
    if (given.count(s.flag)) continue;
    // --mask-rate and --mlm-probability choose the same thing: a given one wins over the recipe's.
    if (s.flag == "--mask-rate" && given.count("--mlm-probability")) continue;
    const std::string& v = s.value;
    if (s.flag == "--k") o.k = std::stoi(v);
    else if (s.flag == "--config") config = v;
    else if (s.flag == "--max-len") o.max_len = std::stoi(v);
    else if (s.flag == "--batch") o.batch = std::stoi(v);
    else if (s.flag == "--steps") o.steps = std::stoll(v);
    else if (s.flag == "--lr") o.lr = std::stod(v);
    else if (s.flag == "--warmup") o.warmup = std::stoll(v);
    else if (s.flag == "--mask-rate") mask_rate = std::stod(v);
    else if (s.flag == "--embedding-init") o.embedding_init = v;
    else if (s.flag == "--position-init") o.position_init = v;
    else if (s.flag == "--dropout") o.dropout = std::stof(v);
    else if (s.flag == "--eval-every") o.eval_every = std::stoll(v);
    else if (s.flag == "--eval-batches") o.eval_batches = std::stoi(v);
    else if (s.flag == "--save-every") o.save_every = std::stoll(v);
    else if (s.flag == "--keep-last") o.keep_last = std::stoi(v);
    else throw Error("recipe " + r.name + ": no setter for " + s.flag);
  }
}

std::string settle_pretrain_options(PretrainOptions& o, std::string& config, double& mask_rate,
                                    const std::string& recipe, const std::set<std::string>& given) {
  std::string said;
  if (!recipe.empty()) {
    const PretrainRecipe& r = find_pretrain_recipe(recipe);
    apply_pretrain_recipe(r, given, o, config, mask_rate);
    said = "recipe " + r.name + ": " + r.summary;
  }
  // --config and --init exclude each other: the model brings its config.json.
  o.config = o.init.empty() ? BertConfig::from_spec(config, o.k) : BertConfig::load(o.init + "/config.json");
  if (mask_rate >= 0) o.mlm_probability = mlm_probability_for_mask_rate(mask_rate, o.k);
  return said;
}

}  // namespace dnabert::models
