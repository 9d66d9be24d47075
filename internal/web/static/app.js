// Progressive enhancement only: every flow works without this file.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var print = document.getElementById("print-codes");
  if (print) {
    print.addEventListener("click", function () {
      window.print();
    });
  }
})();
