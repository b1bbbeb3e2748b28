// Regular expressions from API users (Marathon's and Chronos's LIKE/UNLIKE constraints), read as
// java.util.regex reads them and matched with a bound on the work, so that a crafted pattern
// cannot hold a plugin's loop.
//
//   sdk::BoundedPattern pattern("rack-[0-9]+");  // throws std::runtime_error if invalid
//   std::optional<bool> like = pattern.match("rack-12");  // nullopt: too costly to decide
//
// std::regex backtracks without bound (a pattern such as "((.*)*)*x" against a short host name
// takes minutes) and recurses on the stack; even libstdc++'s polynomial-time mode takes 80 ms for
// a crafted pattern of 1,000 characters against a 253-character field, and half a second against
// 5,000. Boost.Regex's matcher gives up with an exception past a bound on the states it visits and
// on its memory, but that bound grows with the text's length squared and with the pattern's
// length squared times the text's: the same pattern costs it 1 s against a 60-character field and
// 4 s against 253 before it gives up. bounded_regex_match adds a fixed budget of steps through
// the text (each read or move of the matcher's position): at most about 10 ms, which a match
// takes only when it backtracks far more than any pattern written to select agents needs.
#pragma once

#include <boost/regex.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

namespace tessera::sdk {

// `pattern` compiled as java.util.regex compiles it by default (Pattern.compile without flags):
// Perl syntax, '.' does not match a newline, '^' and '$' only at the ends of the text. Throws
// std::runtime_error (boost::regex_error) when it is not valid, including nesting deeper than
// Boost's 400 groups.
inline boost::regex java_regex(std::string_view pattern) {
  return boost::regex(pattern.begin(), pattern.end(),
                      boost::regex::perl | boost::regex::no_mod_m | boost::regex::no_mod_s);
}

// Steps through the text (reads and moves of the matcher's position) that one match may take:
// 5 to 10 ms of work for the costliest patterns (Boost's own bound stops cheaper steps sooner).
inline constexpr uint64_t kRegexMatchBudget = 250'000;

namespace detail {

struct RegexBudgetSpent : std::runtime_error {
  RegexBudgetSpent() : std::runtime_error("the regular expression took too many steps") {}
};

// A position in the text that spends one step of `left` at each read or move, and throws
// RegexBudgetSpent when none is left.
class CountingIterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* at, uint64_t* left) : at_(at), left_(left) {}

  reference operator*() const {
    spend();
    return *at_;
  }
  reference operator[](difference_type n) const {
    spend();
    return at_[n];
  }
  CountingIterator& operator++() {
    spend();
    ++at_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  CountingIterator& operator--() {
    spend();
    --at_;
    return *this;
  }
  CountingIterator operator--(int) {
    CountingIterator before = *this;
    --*this;
    return before;
  }
  CountingIterator& operator+=(difference_type n) {
    spend();
    at_ += n;
    return *this;
  }
  CountingIterator& operator-=(difference_type n) {
    spend();
    at_ -= n;
    return *this;
  }
  friend CountingIterator operator+(CountingIterator it, difference_type n) { return it += n; }
  friend CountingIterator operator+(difference_type n, CountingIterator it) { return it += n; }
  friend CountingIterator operator-(CountingIterator it, difference_type n) { return it -= n; }
  friend difference_type operator-(const CountingIterator& a, const CountingIterator& b) {
    return a.at_ - b.at_;
  }
  friend bool operator==(const CountingIterator& a, const CountingIterator& b) {
    return a.at_ == b.at_;
  }
  friend auto operator<=>(const CountingIterator& a, const CountingIterator& b) {
    return a.at_ <=> b.at_;
  }

 private:
  void spend() const {
    if (*left_ == 0) throw RegexBudgetSpent();
    --*left_;
  }

  const char* at_ = nullptr;
  uint64_t* left_ = nullptr;
};

}  // namespace detail

// Whether `regex` matches the whole of `text` (as Java's String.matches); nullopt when that
// cannot be decided within `budget` steps through the text, or within Boost's own bounds on the
// matcher's states and memory.
inline std::optional<bool> bounded_regex_match(std::string_view text, const boost::regex& regex,
                                               uint64_t budget = kRegexMatchBudget) {
  uint64_t left = budget;
  detail::CountingIterator begin(text.data(), &left);
  detail::CountingIterator end(text.data() + text.size(), &left);
  try {
    return boost::regex_match(begin, end, regex);
  } catch (const std::runtime_error&) {
    // RegexBudgetSpent, or Boost's error_complexity / error_stack.
    return std::nullopt;
  }
}

// A user's pattern compiled once (java_regex) and matched within the budget
// (bounded_regex_match). The texts it could not decide are remembered (by hash, at most
// kMaxUndecided; a collision only makes a text undecided), so that the same field of every offer
// spends the budget once per pattern rather than at every offer. match() may be called on a
// shared const pattern from several threads.
class BoundedPattern {
 public:
  static constexpr size_t kMaxUndecided = 4096;

  // Throws std::runtime_error when `pattern` is not valid (java_regex).
  explicit BoundedPattern(std::string_view pattern) : regex_(java_regex(pattern)) {}

  // Whether the pattern matches the whole of `text`; nullopt when too costly to decide.
  std::optional<bool> match(std::string_view text) const {
    const size_t key = std::hash<std::string_view>()(text);
    {
      std::lock_guard lock(mutex_);
      if (undecided_.count(key) != 0) return std::nullopt;
    }
    std::optional<bool> matched = bounded_regex_match(text, regex_);
    if (!matched) {
      std::lock_guard lock(mutex_);
      if (undecided_.size() < kMaxUndecided) undecided_.insert(key);
    }
    return matched;
  }

 private:
  const boost::regex regex_;
  mutable std::mutex mutex_;
  mutable std::unordered_set<size_t> undecided_;
};

}  // namespace tessera::sdk
