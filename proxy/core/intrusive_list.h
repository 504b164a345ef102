// IntrusiveList: a doubly-linked list whose links live in the items (T
// derives from ListNode<T>), so membership costs no allocation: a worker's
// open connections are counted in the idle-connection memory budget, and a
// hash-set node plus its bucket would cost more than the two pointers here.
// Not thread-safe; an item is in at most one list at a time.
#pragma once

#include <cstddef>
#include <vector>

namespace proxy {

template <class T> class IntrusiveList;

template <class T> class ListNode {
protected:
  ListNode() = default;
  ~ListNode() = default;

private:
  friend class IntrusiveList<T>;
  T* prev_ = nullptr;
  T* next_ = nullptr;
};

template <class T> class IntrusiveList {
public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  void pushBack(T* item) noexcept {
    ListNode<T>& n = node(item);
    n.prev_ = tail_;
    n.next_ = nullptr;
    if (tail_ != nullptr) {
      node(tail_).next_ = item;
    } else {
      head_ = item;
    }
    tail_ = item;
    ++size_;
  }

  // `item` must be in this list.
  void remove(T* item) noexcept {
    ListNode<T>& n = node(item);
    if (n.prev_ != nullptr) {
      node(n.prev_).next_ = n.next_;
    } else {
      head_ = n.next_;
    }
    if (n.next_ != nullptr) {
      node(n.next_).prev_ = n.prev_;
    } else {
      tail_ = n.prev_;
    }
    n.prev_ = n.next_ = nullptr;
    --size_;
  }

  bool empty() const noexcept { return size_ == 0; }
  size_t size() const noexcept { return size_; }

  // The items, copied: for a walk whose steps may remove items (any item,
  // not only the current one).
  std::vector<T*> items() const {
    std::vector<T*> out;
    out.reserve(size_);
    for (T* p = head_; p != nullptr; p = node(p).next_)
      out.push_back(p);
    return out;
  }

private:
  static ListNode<T>& node(T* item) noexcept { return *static_cast<ListNode<T>*>(item); }

  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

} // namespace proxy
