// Progressive enhancement only: every flow works without this file.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  // Negative amounts in a muted red. Pages print amounts as text; the sign
  // is the only reliable marker, so read it here rather than in every page.
  var amounts = document.querySelectorAll(".data-table td.num, dl.details dd.num");
  for (var i = 0; i < amounts.length; i++) {
    var t = amounts[i].textContent.trim();
    if (/^[-\u2212(]\s*[0-9.,]*[1-9]/.test(t) || /^[A-Z]{3}\s*[-\u2212]\s*[0-9.,]*[1-9]/.test(t)) {
      amounts[i].classList.add("negative");
    }
  }

  // A date breaks at its hyphens in a narrow column; keep it whole.
  var cells = document.querySelectorAll(".data-table td");
  for (var j = 0; j < cells.length; j++) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(cells[j].textContent.trim())) {
      cells[j].classList.add("nowrap");
    }
  }

  // On a phone the section list scrolls sideways: bring the current
  // section into view.
  var current = document.querySelector(".org-nav-list a[aria-current=\"page\"]");
  if (current) {
    var list = current.closest(".org-nav-list");
    var li = current.parentElement;
    if (list && li && li.offsetLeft + li.offsetWidth > list.clientWidth) {
      list.scrollLeft = li.offsetLeft - 16;
    }
  }

  var print = document.getElementById("print-codes");
  if (print) {
    print.addEventListener("click", function () {
      window.print();
    });
  }
})();
