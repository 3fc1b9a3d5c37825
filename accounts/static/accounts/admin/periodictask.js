/* The crontab "translation" help of django-celery-beat's periodic-task form, as a static file so the
   Content-Security-Policy needs no 'unsafe-inline' (templates/admin/djcelery/change_periodictask_form.html). */
"use strict";
(function ($) {
    function readJson(id) {
        var node = document.getElementById(id);
        return node ? JSON.parse(node.textContent) : null;
    }

    $(function () {
        var readableCrontabs = readJson("readable-crontabs") || {};
        var originalHelp = readJson("crontab-help") || "";

        function updateCrontabHelp(additional) {
            var help = $(".field-crontab .help");
            help.empty();
            help.append(document.createTextNode(originalHelp));
            help.append(document.createElement("br"));
            help.append(document.createTextNode("Translation: " + (additional || "")));
        }

        $(".field-crontab_translation").hide();
        $(".field-crontab").on("change", function () {
            updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]);
        });
    });
})(django.jQuery);
