#pragma once

// Small pieces shared by the ML actions' self-contained HTML reports.

#include <string>
#include <string_view>

namespace stagegate::ml::html {

/// `text` with <, >, & and " escaped, for element text and attribute values.
std::string Escape(std::string_view text);

/// `value` with four significant digits (printf "%.4g"), as the reports show numbers.
std::string Number(double value);

/// The document up to and including <body>: charset, title and the given style sheet.
std::string PageStart(std::string_view title, std::string_view css);

}  // namespace stagegate::ml::html
