// Sequence logos as standalone SVG, drawn offline (DNABERT calls the online
// WebLogo service for these). Column height is the information content,
// 2 − H bits (no small-sample correction); letters are stacked smallest at
// the bottom, in WebLogo's classic colours (A green, C blue, G orange, T red).
#pragma once
#include <array>
#include <string>
#include <vector>

namespace dnabert::io {

// Information content of one column of A, C, G, T frequencies, in bits.
double information_bits(const std::array<double, 4>& frequencies);

// columns: A, C, G, T frequencies per position (each summing to 1).
std::string render_logo_svg(const std::vector<std::array<double, 4>>& columns, const std::string& title);
void write_logo_svg(const std::string& path, const std::vector<std::array<double, 4>>& columns, const std::string& title);

}  // namespace dnabert::io
